# nginx -s quit (SIGQUIT to the master) while two jobs generate, four wait
# and 30 slow downloads with random Range headers stream a 4 MB video:
# the downloads end intact, the running jobs are finished and stored
# before the workers exit, no generator outlives nginx, the master exits,
# and a new nginx on the same database generates the waiting jobs, each
# exactly once.  Last, worker_shutdown_timeout cuts a download and the
# jobs round waiting for a frozen PostgreSQL without crashing the worker.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use WeaveIt::Test qw(random_bytes wait_until free_port open_client
                     read_client);
use WeaveIt::Jobs qw(api_locations thread_pool post_job script_words
                     WALLET);
use WeaveIt::Downloads;

my $slow_port = free_port();
my %conf = (workers => 2, main => thread_pool(),
    http => "weaveit_thread_pool weaveit; "
          . WeaveIt::Downloads::busy_http($slow_port),
    server => api_locations());

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, %conf);
$pg->wait_schema;

my (undef, $video) = $pg->store_video(random_bytes(4 << 20, 13));
my $data = $pg->video_data($video);
my $mine = "wallet_address = '" . WALLET . "'";

sub jobs_where {
    my ($cond) = @_;
    return $pg->psql("SELECT count(*) FROM video_jobs WHERE $mine "
                     . "AND $cond");
}

# two jobs of several seconds, one for each worker, then four more

my @ids = map { post_job($ngx, script => script_words($_ <= 2 ? 200 : 40))
                    ->{json}{jobId} } 1 .. 6;
is scalar(grep { defined } @ids), 6, 'six jobs accepted';
ok wait_until(30, sub { jobs_where("status = 'generating'") == 2 }),
    'two generate';

# the workers' children: under ASan a generator's leak check runs in a
# clone of it for a moment, a process with the same command line
my $pattern = "'^" . $ngx->dir . "/weaveit-render'";
my $generators = "pgrep -f $pattern";
my $workers = join ',', $ngx->worker_pids;
my @generators = split ' ', `pgrep -P $workers -f $pattern`;
is scalar(@generators), 2, 'in two generators';

my $dl = WeaveIt::Downloads->new(port => $slow_port,
                                 path => "/api/videos/$video",
                                 data => $data, clients => 30);
my $end = time + 30;
$dl->step while $dl->answering < 30 && time < $end;
is $dl->answering, 30, '30 downloads under way';

my $master = $ngx->master_pid;
my @running = split ' ', $pg->psql("SELECT string_agg(job_id::text, ' ') "
                                   . "FROM video_jobs "
                                   . "WHERE status = 'generating'");
my $t0 = time;
$ngx->signal('QUIT');

ok $dl->finish(120), 'the downloads in flight end';
note sprintf 'downloads done %.1f s after QUIT', time - $t0;
is $dl->{broken}, 0, "all intact ($dl->{intact})"
    or diag join "\n", @{ $dl->{problems} };
is $dl->{refused}, 0, 'none closed before its answer';

ok wait_until(120, sub { !kill 0, $master }), 'the master exits';
note sprintf 'nginx exited %.1f s after QUIT', time - $t0;
$ngx->{running} = 0;
is `$generators`, '', 'no generator outlives it';

is $pg->psql("SELECT string_agg(status || ' ' || attempts, ',') "
             . "FROM video_jobs WHERE job_id IN ("
             . join(',', map { "'$_'" } @running) . ")"),
    'completed 1,completed 1', 'the running jobs were finished first';
is jobs_where("status = 'pending'"), 4, 'the others wait, unclaimed';

my $log = $ngx->error_log;
unlike $log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';
unlike $log, qr/exited on signal/, 'no worker died';

# a new nginx on the same database finishes the rest

my $next = WeaveIt::Nginx->start(pg => $pg, %conf);
ok wait_until(120, sub { jobs_where("status = 'completed'") == 6 }),
    'a new nginx completes the four others';
is $pg->psql("SELECT count(*) FROM videos WHERE $mine"), 6,
    'six videos stored';
is $pg->psql("SELECT count(DISTINCT job_id) FROM videos WHERE $mine"), 6,
    'one for each job';
is jobs_where('attempts <> 1'), 0, 'each generated once';
is $pg->psql("SELECT prompt_points || ' ' || (SELECT sum(delta) "
             . "FROM points_ledger WHERE $mine) FROM users WHERE $mine"),
    '94 94', 'six jobs paid for, in the ledger too';

$next->stop;
unlike $next->error_log, qr/\[(alert|emerg|crit)\]/,
    'no alert in the new error.log';

# worker_shutdown_timeout cuts what is still running when it expires:
# here a download and the jobs round, both waiting for a frozen
# PostgreSQL.  Their queries are told, and the worker exits cleanly.

$conf{main} .= 'worker_shutdown_timeout 1s;';
my $cut = WeaveIt::Nginx->start(pg => $pg, %conf, workers => 1);
my $s = open_client(port => $slow_port, path => "/api/videos/$video",
                    rcvbuf => 16384);
my ($head, $body) = read_client($s, 1);
like $head, qr{^HTTP/1.1 200}, 'a download under way';
$pg->freeze;
(undef, my $rest) = read_client($s, 200000, 2);
$master = $cut->master_pid;
$cut->signal('QUIT');
ok wait_until(30, sub { !kill 0, $master }),
    'worker_shutdown_timeout 1s with queries waiting: nginx exits';
$cut->{running} = 0;
$pg->thaw;
(undef, $rest, my $eof) = read_client($s, undef, 10);
ok $eof && length($body) + length($rest) < length $data,
    'the download is cut short';
$log = $cut->error_log;
like $log, qr/closed at the worker's shutdown/, 'error.log says why';
unlike $log, qr/exited on signal/, 'the worker did not crash';
unlike $log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
