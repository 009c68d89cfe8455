# Generation runs in a sandboxed child process: a script that crashes
# espeak-ng, a generator over its memory or CPU limit, or one whose worker
# is killed costs exactly one job, never an nginx worker, and the child
# holds nothing of nginx's.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use WeaveIt::Test qw(wait_until random_bytes open_client read_client);
use WeaveIt::Jobs qw(api_locations thread_pool post_job job_status wait_job
                     script_words WALLET WALLET2);

my $POISON = do {
    local $/;
    open my $f, '<', 't/data/poison-espeak-stack.txt' or die "poison: $!";
    <$f>;
};
my $W3 = '11111111111111111111111111111111';

my $pg = WeaveIt::Pg->start;

sub start_nginx {
    my (%a) = @_;
    return WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
        workers => $a{workers} // 1,
        http => 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
              . 'weaveit_max_jobs 2; weaveit_signup_points 5;'
              . 'weaveit_generate_cost 1; weaveit_video_size 640x360;'
              . ($a{http} // ''),
        server => api_locations() . '
            location ~ ^/api/videos/(?<video_id>[^/]+)$ {
                weaveit_video $video_id;
                weaveit_video_chunk 64k;
            }');
}

sub points {
    my ($ngx, $wallet) = @_;
    my $r = $ngx->get("/api/users/$wallet/points");
    return (eval { decode_json($r->{body}) } // {})->{points};
}

sub attempts {
    my ($id) = @_;
    return $pg->psql("SELECT attempts FROM video_jobs WHERE job_id = '$id'");
}

sub children_of {
    my ($pid) = @_;
    return grep { /^\d+$/ } split /\s+/, `pgrep -P $pid`;
}

my $ngx = start_nginx();
$pg->wait_schema;
my @workers = $ngx->worker_pids;
is scalar @workers, 1, 'one worker';

# A download that runs on the same worker while the poison job crashes.

my (undef, $video) = $pg->store_video(random_bytes(4_000_000, 7));
my $data = $pg->video_data($video);
my $client = open_client(port => $ngx->port, path => "/api/videos/$video",
                         rcvbuf => 16384);
sleep 0.2;

my $poison = post_job($ngx, script => $POISON, wallet => WALLET);
my $normal = post_job($ngx, script => 'A normal job, posted at the same '
                                    . 'time as the poison.', wallet => WALLET2);
is $poison->{status}, 202, 'the poison script is accepted';
is $normal->{status}, 202, 'and so is a normal one';

my $t0 = time;
my ($seen, $st) = wait_job($ngx, $poison->{json}{jobId}, 60);
is $st->{status}, 'failed', 'the poison job failed';
cmp_ok time - $t0, '<', 30, '  within seconds';
is $st->{error}, 'Generation failed', '  with the generic message';
is attempts($poison->{json}{jobId}), 1, '  after one attempt, no retry';
is points($ngx, WALLET), 5, '  and its point was refunded';

($seen, $st) = wait_job($ngx, $normal->{json}{jobId}, 120);
is $st->{status}, 'completed', 'the normal job posted with it completed';
is points($ngx, WALLET2), 4, '  and was charged';

my (undef, $body) = read_client($client, length $data, 60);
ok $body eq $data,
    'the download running during the crash is byte-exact';

is_deeply [ $ngx->worker_pids ], \@workers, 'the same worker is still there';
like $ngx->error_log, qr/job \S+ failed without retry, the input is to blame: the generator crashed with signal \d+ \(SIG\w+\)/,
    'the crash is logged with its signal';
unlike $ngx->error_log, qr/exited on signal/, 'no worker exited on a signal'
    or diag $ngx->error_log;

# The child holds only its pipes and what it opened itself.

my $long = post_job($ngx, script => script_words(1500), wallet => $W3);
my ($child) = ();
sub sandboxed {
    my ($pid) = @_;
    open my $f, '<', "/proc/$pid/status" or return 0;
    return scalar grep { /^Seccomp:\s+2$/ } <$f>;
}

ok wait_until(30, sub { ($child) = children_of($workers[0]);
                        $child && sandboxed($child) }),
    'the worker has a generator child, under seccomp, while the job runs';
my @fds = map { readlink($_) // '' } glob "/proc/$child/fd/*";
ok @fds >= 4, 'the child has its descriptors (' . scalar(@fds) . ')';
is scalar(grep { /^socket:/ } @fds), 0, '  none of them a socket'
    or diag "@fds";
cmp_ok scalar(grep { /^pipe:/ } @fds), '<=', 4, '  and at most its 4 pipes'
    or diag "@fds";
ok !(grep { m{/error\.log$|nginx} } @fds), '  and no file of nginx'
    or diag "@fds";

# kill -9 of the worker: the child dies with it, the job runs again.

sub alive {
    my ($pid) = @_;
    open my $f, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$f>;
    return $stat !~ /^\d+ \(.*\) [ZX] /;
}

ok alive($child), 'the generator runs';
kill 'KILL', $workers[0];
ok wait_until(1, sub { !alive($child) }),
    'the generator is gone within a second of its worker'
    or diag `cat /proc/$child/stat; cat /proc/$child/status | grep -i 'ppid\|sig\|state'; ps -o pid,ppid,stat,cmd -p $child,$workers[0]`;
($seen, $st) = wait_job($ngx, $long->{json}{jobId}, 180);
is $st->{status}, 'completed', 'the job ran again and completed';
is attempts($long->{json}{jobId}), 2, '  on its second attempt';
is $pg->psql("SELECT count(*) FROM videos WHERE job_id = "
             . "'$long->{json}{jobId}'"), 1, '  stored once';

# A job already started weaveit_job_attempts times is never claimed again.

my $tired = $pg->psql("INSERT INTO video_jobs (job_id, wallet_address, "
    . "script_body, status, attempts) VALUES (gen_random_uuid(), "
    . "'" . WALLET . "', 'tired', 'pending', 3) RETURNING job_id");
sleep 1.5;
is $pg->psql("SELECT status || ' ' || attempts FROM video_jobs "
             . "WHERE job_id = '$tired'"), 'pending 3',
    'a job out of attempts is not claimed';
$pg->psql("DELETE FROM video_jobs WHERE job_id = '$tired'");

$ngx->stop;
is scalar(() = $ngx->error_log =~ /\[(alert|emerg)\]/g), 1,
    'one alert in error.log, the worker killed by the test';

# nginx -s stop (TERM) while a job generates: the master kills a worker
# still there after a second, so the worker's thread kills the generator
# rather than wait for it; the job runs again under the next nginx.

my $fast = start_nginx();
my $cut = post_job($fast, script => script_words(600), wallet => $W3);
my ($fw) = $fast->worker_pids;
my $gen;
ok wait_until(30, sub { ($gen) = children_of($fw); $gen && sandboxed($gen) }),
    'a job generates';
my $master = $fast->master_pid;
$fast->signal('TERM');
ok wait_until(10, sub { !kill 0, $master }), 'nginx -s stop: nginx exits';
ok !alive($gen), '  its generator is gone';
unlike $fast->error_log, qr/exited on signal|\[alert\]/,
    '  and no worker was killed';
$fast->{running} = 0;
$fast = start_nginx();
($seen, $st) = wait_job($fast, $cut->{json}{jobId}, 180);
is $st->{status}, 'completed', 'the next nginx generates the job';
$fast->stop;

# Limits: memory and CPU time.

for my $t ([ 'memory', 'weaveit_generate_memory 40m;', script_words(50) ],
           [ 'CPU time', 'weaveit_generate_timeout 1s;',
             script_words(2500) ])
{
    my ($what, $http, $script) = @$t;
    my $n = start_nginx(http => $http);
    my @w = $n->worker_pids;
    my $r = post_job($n, script => $script, wallet => WALLET);
    my $t1 = time;
    ($seen, $st) = wait_job($n, $r->{json}{jobId}, 90);
    is $st->{status}, 'failed', "over its $what limit: the job failed";
    cmp_ok time - $t1, '<', 60, '  at once';
    is attempts($r->{json}{jobId}), 1, '  without retry';
    is_deeply [ $n->worker_pids ], \@w, '  the worker lives on';
    like $n->error_log, qr/job \S+ failed/, '  and the log says why';
    $n->stop;
    unlike $n->error_log, qr/exited on signal|\[alert\]/,
        '  no worker crashed';
}

done_testing;
