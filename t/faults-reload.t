# Ten reloads (SIGHUP to the master) while 20 jobs run and 50 slow
# downloads with random Range headers stream a 4 MB video: every download
# that started ends intact (an old worker finishes its requests before it
# exits), every job is generated once and stored once, the points add up,
# and every old worker exits.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use WeaveIt::Test qw(random_bytes wait_until free_port);
use WeaveIt::Jobs qw(api_locations post_job job_status script_words
                     WALLET);
use WeaveIt::Downloads;

my $slow_port = free_port();
my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, workers => 2,
    main => 'thread_pool weaveit threads=4 max_queue=64;',
    http => "weaveit_thread_pool weaveit; weaveit_max_jobs 2; "
          . WeaveIt::Downloads::busy_http($slow_port),
    server => api_locations());
$pg->wait_schema;

my (undef, $video) = $pg->store_video(random_bytes(4 << 20, 12));
my $data = $pg->video_data($video);

# Ten reloads while downloads go on.  Before each, two new jobs are
# posted and claimed at once by the worker that took them, which the
# reload then retires: every old worker has jobs to finish.  The next
# reload comes once this one's workers have started.

my $t0 = time;
my $dl = WeaveIt::Downloads->new(port => $slow_port,
                                 path => "/api/videos/$video",
                                 data => $data, clients => 50,
                                 read => 65536, rcvbuf => 65536);
my (@ids, %seen, @during_jobs, @answering);
my ($reloads, $next, $batch, $before) = (0, time + 1, undef, undef);
my $end = time + 120;
while ($reloads < 10 && time < $end) {
    $dl->step;
    next if time < $next;
    $next = time + 0.2;
    my @pids = $ngx->worker_pids;
    $seen{$_} = 1 for @pids;
    if ($before) {
        next unless grep { !$before->{$_} } @pids;
        ($before, $batch) = (undef, undef);
        $dl->{tag} = ++$reloads;
        $next = time + 0.5;
        next;
    }
    unless ($batch) {
        $batch = [ map { post_job($ngx, script => script_words(40 + @ids))
                             ->{json}{jobId} // 'none' } 1 .. 2 ];
        push @ids, @$batch;
    }
    my @status = map { job_status($ngx, $_)->{status} // '' } @$batch;
    next if grep { $_ eq 'pending' } @status;
    $before = { map { $_ => 1 } @pids };
    push @during_jobs, scalar grep { $_ eq 'generating' } @status;
    push @answering, $dl->answering($reloads);
    $ngx->signal('HUP');
}
is $reloads, 10, '10 reloads';
is scalar(grep { /^[0-9a-f-]{36}$/ } @ids), 20, '20 jobs accepted';
note "of the two jobs posted before each reload, generating at the "
   . "reload: @during_jobs";
note "downloads under way at each reload, of those opened since the "
   . "previous one: @answering";
is scalar(grep { $_ > 0 } @during_jobs), 10, 'each while jobs ran';
is scalar(grep { $_ > 0 } @answering), 10,
    'and while downloads that the retired workers took were under way';
note sprintf "%d downloads started, reloads done at %.1f s", $dl->{started},
    time - $t0;

ok $dl->finish(120), 'the downloads in flight end';
note sprintf 'downloads done at %.1f s', time - $t0;
is $dl->{broken}, 0, "every answered download intact ($dl->{intact})"
    or diag join "\n", @{ $dl->{problems} };
is $dl->{refused}, 0, 'none closed before its answer';

# the jobs

my $mine = "wallet_address = '" . WALLET . "'";
ok wait_until(180, sub {
        $pg->psql("SELECT count(*) FROM video_jobs WHERE $mine "
                  . "AND status IN ('completed', 'failed')") == 20 }),
    'all 20 jobs ended';
note sprintf 'jobs done at %.1f s', time - $t0;
is $pg->psql("SELECT count(*) FROM video_jobs "
             . "WHERE $mine AND status = 'completed'"), 20,
    'all completed';
is $pg->psql("SELECT count(*) FROM videos WHERE video_id <> '$video'"),
    20, '20 videos stored';
is $pg->psql("SELECT count(DISTINCT job_id) FROM videos "
             . "WHERE video_id <> '$video'"), 20, 'one for each job';
is $pg->psql("SELECT max(attempts) FROM video_jobs"), 1,
    'each generated once: old workers finish their jobs';
is $pg->psql("SELECT prompt_points FROM users WHERE $mine"), 80,
    'the wallet paid for 20 jobs';
is $pg->psql("SELECT sum(delta) FROM points_ledger WHERE $mine"), 80,
    'and its ledger says so';

# the workers

ok wait_until(120, sub { $ngx->worker_pids == 2 }),
    'the old workers exit, only the last two are left';
note sprintf 'old workers gone at %.1f s', time - $t0;
my %current = map { $_ => 1 } $ngx->worker_pids;
my @old = grep { !$current{$_} } keys %seen;
is scalar(@old), 20, 'ten generations of two old workers were seen';
is scalar(grep { kill 0, $_ } @old), 0, 'all gone';

$ngx->stop;
my $log = $ngx->error_log;
unlike $log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';
unlike $log, qr/exited on signal/, 'no worker died';

done_testing;
