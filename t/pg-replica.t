# Read replicas, against a real streaming standby (pg_basebackup -R) of
# the test's PostgreSQL, both logging every statement with the client's
# application_name: the reads of requests (a video and its chunks, a job's
# status, a wallet's videos and points) arrive at the standby, round robin
# between two weaveit_db_replica entries (a video's chunks on the one that
# found it), and no write ever does.  With replay paused, a video, a job
# and a wallet the standby does not have yet are still served (asked of
# the standby once, then of the primary), and a replica past
# weaveit_db_replica_max_lag is skipped with one log line, then used again
# once replay resumes.  With the standby stopped every read is served by
# the primary, the replicas are skipped with one line each, and they are
# used again once it is back.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use WeaveIt::Test qw(wait_until random_bytes);
use WeaveIt::Jobs qw(api_locations thread_pool);

my $pg = WeaveIt::Pg->start;
$pg->psql("ALTER SYSTEM SET log_statement = 'all'");
$pg->psql("ALTER SYSTEM SET log_line_prefix = '%m [%p] %a: '");
$pg->psql('SELECT pg_reload_conf()');
my $standby = $pg->standby;    # with the same settings, copied

my $wallet = '7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU';
my $server = api_locations() . '
    location ~ ^/api/videos/(?<video_id>[^/]+)$ {
        weaveit_video $video_id;
    }';

sub replica {
    my ($name) = @_;
    return 'weaveit_db_replica "' . $standby->conninfo
         . " application_name=$name\";";
}

# a: two replica entries, lag bound far off; c: one, lag bound 1 s
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => replica('replica-a') . replica('replica-b')
          . 'weaveit_db_replica_max_lag 1h; weaveit_video_chunk 64k;'
          . 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
          . 'weaveit_db_replica_pool max=2 timeout=3s;',
    server => $server . 'location = /metrics { weaveit_metrics; }');
my $ngx_c = WeaveIt::Nginx->start(pg => $pg,
    http => replica('replica-c') . 'weaveit_db_replica_max_lag 1s;',
    server => 'location ~ ^/api/videos/(?<video_id>[^/]+)$ {
                   weaveit_video $video_id;
               }');
$pg->wait_schema;

my $target = "host=$standby->{sock} port=$standby->{port}";

sub count {
    my ($ngx, $re) = @_;
    return scalar(() = $ngx->error_log =~ /$re/g);
}

my $in_use = qr/weaveit: replica \Q$target\E in use, \d+ ms behind/;
my $skipped = qr/weaveit: replica \Q$target\E skipped: /;

ok wait_until(20, sub { count($ngx, $in_use) == 2
                        && count($ngx_c, $in_use) == 1 }),
    'each replica is in use once checked, one line each';

sub json_get {
    my ($ngx, $path) = @_;
    my $r = $ngx->get($path);
    return ($r, eval { decode_json($r->{body}) } // {});
}

my ($r, $j) = json_get($ngx, '/api/db/health');
is_deeply [ $r->{status}, $j ],
    [ 200, { ok => JSON::PP::true,
             replicas => { configured => 2, inUse => 2 } } ],
    'health: ok, and the replicas in use';

# what a server logged since a mark
sub log_of { "$_[0]->{data}/server.log" }
sub mark { -s log_of($_[0]) }
sub since {
    my ($pg, $mark) = @_;
    open my $fh, '<', log_of($pg) or die;
    seek $fh, $mark, 0;
    local $/;
    return <$fh> // '';
}

# a video stored on the primary and replayed on the standby

my $bytes = random_bytes(300_000, 7);
my ($job, $video) = $pg->store_video($bytes, title => 'Replicated');
$standby->wait_replayed;
my ($pm, $sm) = (mark($pg), mark($standby));

for my $try (1, 2) {
    $r = $ngx->get("/api/videos/$video");
    ok $r->{status} == 200 && $r->{body} eq $bytes,
        "a replicated video, try $try: 200, byte-exact";
}
($r, $j) = json_get($ngx, "/api/videos/status/$job");
is "$r->{status} $j->{status}", '200 completed', 'its status: 200';
($r, $j) = json_get($ngx, "/api/users/$wallet/points");
is $r->{status}, 200, "its wallet's points: 200";
($r, $j) = json_get($ngx, "/api/wallet/$wallet/videos");
is "$r->{status} $j->{total}", '200 1', "its wallet's videos: 200";

my $log = since($standby, $sm);
my @reads = $log =~ /(replica-[ab]): LOG:  execute weaveit_video_(\w+)/g;
my @downloads;
while (my ($name, $what) = splice @reads, 0, 2) {
    push @downloads, '' if $what eq 'find';
    $downloads[-1] .= ($what eq 'find' ? "$name:" : " $name");
}
is scalar(@downloads), 2, 'the standby found the video twice';
like $_, qr/^(replica-[ab]):(?: \1){5}$/,
    "  and served its 5 chunks of 64k where it found it: $_"
    for @downloads;
isnt substr($downloads[0], 0, 9), substr($downloads[1], 0, 9),
    '  through either replica (round robin)';
like $log, qr/replica-[ab]: LOG: .*FROM video_jobs j WHERE j\.job_id/,
    '  and the status';
like $log, qr/replica-[ab]: LOG: .*FROM users\s+WHERE wallet_address/,
    '  and the points';
like $log, qr/replica-[ab]: LOG: .*WHERE v\.wallet_address/,
    '  and the wallet videos';
$log = since($pg, $pm);
unlike $log, qr/\Q$video\E|\Q$job\E|\Q$wallet\E|weaveit_video_chunk/,
    'the primary served none of them';

# writes: a generation in wait mode, its video fetched at once

($pm, $sm) = (mark($pg), mark($standby));
$r = $ngx->request(method => 'POST', path => '/api/generate?wait=1',
    headers => { 'Content-Type' => 'application/json' },
    body => encode_json({ script => 'Replicas serve the reads.',
                          walletAddress => $wallet }),
    timeout => 120);
$j = eval { decode_json($r->{body}) } // {};
is "$r->{status} " . ($j->{status} // ''), '200 completed',
    'a POST in wait mode: 200 completed';
$r = $ngx->get("/api/videos/$j->{videoId}");
is $r->{status}, 200, '  its video at once: 200';
($r, my $st) = json_get($ngx, "/api/videos/status/$j->{jobId}");
is "$r->{status} $st->{status}", '200 completed', '  its status: completed';
like since($pg, $pm), qr/weaveit_create_job/, '  created on the primary';
$log = since($standby, $sm);
unlike $log, qr/weaveit_create_job|\b(INSERT|UPDATE|DELETE)\b|read-only/,
    '  and no write reached the standby';

# replay paused: what the standby lacks is read on the primary

$standby->psql('SELECT pg_wal_replay_pause()');
my $fresh = random_bytes(200_000, 8);
my ($fresh_job, $fresh_video) = $pg->store_video($fresh, title => 'Fresh');
my ($failed) = $pg->store_video('', status => 'failed', no_video => 1);
my $new_wallet = 'So11111111111111111111111111111111111111112';
$pg->psql("INSERT INTO users (wallet_address, prompt_points) "
          . "VALUES ('$new_wallet', 5)");
is $standby->psql("SELECT count(*) FROM videos "
                  . "WHERE video_id = '$fresh_video'"), 0,
    'replay paused: the standby has not the fresh video';
($pm, $sm) = (mark($pg), mark($standby));

$r = $ngx->get("/api/videos/$fresh_video");
ok $r->{status} == 200 && $r->{body} eq $fresh,
    'the fresh video: 200, byte-exact';
my $misses = () = since($standby, $sm) =~ /LOG:  execute weaveit_video_/g;
is $misses, 1, '  one miss on the standby: its 4 chunks go to the primary';
$r = $ngx->get("/api/videos/$fresh_job");
is $r->{status}, 200, '  by its job id too';
($r, $j) = json_get($ngx, "/api/videos/status/$failed");
is "$r->{status} $j->{status}", '200 failed', 'a fresh job: 200';
($r, $j) = json_get($ngx, "/api/users/$new_wallet/points");
is "$r->{status} $j->{points}", '200 5', "a fresh wallet's points: 200";
my $nowhere = '00000000-0000-4000-8000-000000000000';
($r, $j) = json_get($ngx, "/api/videos/$nowhere");
is "$r->{status} $j->{error}", '404 Video not found',
    'a video nowhere: 404 still';
($r, $j) = json_get($ngx, "/api/videos/status/$nowhere");
is "$r->{status} $j->{error}", '404 Job not found',
    'a job nowhere: 404 still';
$log = since($standby, $sm);
like $log, qr/\Q$fresh_video\E/, '  the standby was asked first';
$log = since($pg, $pm);
like $log, qr/\Q$fresh_video\E/, '  then the primary';
like $log, qr/\Q$failed\E/, '  (the job too)';
like $log, qr/\Q$nowhere\E/, '  (and for the ids nowhere)';

sub replica_reads {
    my $body = $ngx->get('/metrics')->{body};
    return map { $body =~ /^weaveit_db_replica_reads_total
                           \{answered_by="$_"\}[ ](\d+)$/mx ? $1 : -1 }
               qw(replica primary);
}
my ($by_replica, $by_primary) = replica_reads();
cmp_ok $by_replica, '>=', 10,
    "metrics: $by_replica reads answered by the replicas";
cmp_ok $by_primary, '>=', 6, "  $by_primary by the primary after them";

# the 1 s lag bound: skipped once, used again when replay resumes

ok wait_until(15, sub { count($ngx_c, $skipped) == 1 }),
    'past weaveit_db_replica_max_lag 1s: the replica is skipped';
like $ngx_c->error_log, qr/$skipped\d+ ms behind, more than /,
    '  saying how far behind';
$sm = mark($standby);
$r = $ngx_c->get("/api/videos/$video");
ok $r->{status} == 200 && $r->{body} eq $bytes,
    '  a video is served meanwhile';
sleep 2.5;
unlike since($standby, $sm), qr/replica-c: LOG:  execute weaveit_video_/,
    '  from the primary alone: no read of it on the standby';
is count($ngx_c, $skipped), 1, '  and the skip is logged once';
is count($ngx, $skipped), 0, 'the 1h bound: still in use';

$standby->psql('SELECT pg_wal_replay_resume()');
ok wait_until(15, sub { count($ngx_c, $in_use) == 2 }),
    'replay resumed: in use again';

# the standby stopped, then started again

$standby->stop;
for my $i (1 .. 3) {
    $r = $ngx->get("/api/videos/$video");
    ok $r->{status} == 200 && $r->{body} eq $bytes,
        "standby stopped: a video, try $i: 200, byte-exact";
    ($r, $j) = json_get($ngx, "/api/videos/status/$job");
    is $r->{status}, 200, "  its status: 200";
    ($r, $j) = json_get($ngx, "/api/users/$wallet/points");
    is $r->{status}, 200, "  the points: 200";
    ($r, $j) = json_get($ngx, "/api/wallet/$wallet/videos");
    is $r->{status}, 200, "  the wallet's videos: 200";
}
ok wait_until(15, sub { count($ngx, $skipped) == 2 }),
    'each replica skipped';
sleep 2.5;
is count($ngx, $skipped), 2, '  with one line each, however many checks';
unlike $ngx->error_log, qr/\[(error|crit|alert|emerg)\].*\Q$standby->{sock}/,
    '  and no error line of the pool for each check';
($r, $j) = json_get($ngx, '/api/db/health');
is_deeply [ $r->{status}, $j ],
    [ 200, { ok => JSON::PP::true,
             replicas => { configured => 2, inUse => 0 } } ],
    '  health: ok, no replica in use';

$standby->restart;
ok wait_until(15, sub { count($ngx, $in_use) == 4 }),
    'the standby back: both in use again';

# configurations refused

my ($ok, $out) = WeaveIt::Nginx->test_config(pg => $pg,
    http => 'weaveit_db_replica "host=replica.invalid";',
    server => 'location = /h { weaveit_health; }');
ok !$ok, 'nginx -t refuses a replica host that does not resolve';
like $out, qr/invalid "weaveit_db_replica" value .*replica\.invalid/,
    '  naming the directive';
($ok, $out) = WeaveIt::Nginx->test_config(pg => $pg,
    http => replica('x') . 'weaveit_db_replica_pool max=0;',
    server => 'location = /h { weaveit_health; }');
ok !$ok, 'nginx -t refuses weaveit_db_replica_pool max=0';

my ($old) = $ngx->worker_pids;
$ngx->signal('HUP');
ok wait_until(15, sub { count($ngx, $in_use) == 6 }),
    'a reload: the new worker checks and uses both';
ok wait_until(15, sub { !kill 0, $old }),
    '  and the old one exits: the checks hold no worker';
$ngx->stop;
$ngx_c->stop;
unlike $ngx->error_log . $ngx_c->error_log, qr/\[(alert|emerg)\]/,
    'no alert, and both stopped cleanly';

done_testing;
