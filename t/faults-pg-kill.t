# PostgreSQL killed with -9 (the postmaster and every backend, as a crash
# or the OOM killer would) at the three moments that matter, then started
# again: nginx recovers by itself, nothing is lost or stored twice, no
# job is stuck, and no worker crashes.
#   - while a job's video is being stored: the job runs again once its
#     lease expires and is stored once, charged once;
#   - while POST /api/generate creates its job: a JSON 503, and no job,
#     no user, no charge;
#   - mid-download: a download waiting for its client goes on once
#     PostgreSQL is back; one that needs a chunk while it is down is cut
#     short of Content-Length; downloads work after the restart.
# Each moment is pinned by a lock a psql session holds, which keeps the
# query waiting inside PostgreSQL until the kill.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use WeaveIt::Test qw(wait_until random_bytes free_port open_client
                     read_client read_more);
use WeaveIt::Jobs qw(api_locations thread_pool post_job WALLET WALLET2);

my $slow_port = free_port();
my $video_location = 'location ~ ^/api/videos/(?<video_id>[^/]+)$ {
                          weaveit_video $video_id;
                          weaveit_video_chunk 64k;
                      }';

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => "weaveit_thread_pool weaveit; weaveit_job_interval 200ms;
             weaveit_db_pool max=2 timeout=10s;
             weaveit_signup_points 10; weaveit_generate_cost 1;
             server {
                 listen 127.0.0.1:$slow_port sndbuf=32k;
                 $video_location
             }",
    server => api_locations() . $video_location);
$pg->wait_schema;
my @workers = $ngx->worker_pids;

# Waits until a query of nginx's that matches $like waits for a lock.
sub waits_for_lock {
    my ($like) = @_;
    return wait_until(30, sub {
        $pg->psql("SELECT count(*) FROM pg_stat_activity "
                  . "WHERE application_name LIKE 'weaveit/%' "
                  . "AND wait_event_type = 'Lock' AND query LIKE '$like'")
        > 0;
    });
}

sub crash_and_restart {
    $pg->kill9;
    sleep 0.5;
    $pg->restart;
}

sub job_row {
    my ($id) = @_;
    return $pg->psql("SELECT status || ' ' || attempts FROM video_jobs "
                     . "WHERE job_id = '$id'");
}

sub ledger {
    my ($wallet) = @_;
    return $pg->psql("SELECT coalesce(string_agg(reason || ' ' || delta, "
        . "', ' ORDER BY entry_id), '') FROM points_ledger "
        . "WHERE wallet_address = '$wallet'");
}

subtest 'killed while a video is being stored' => sub {
    my $lock = $pg->session;
    $lock->run('BEGIN; LOCK TABLE videos IN ACCESS EXCLUSIVE MODE;');

    my $r = post_job($ngx, script => 'Stored once.');
    is $r->{status}, 202, 'a job is accepted';
    my $id = $r->{json}{jobId};
    ok waits_for_lock('%INSERT INTO videos%'),
        'its generator finished and the video is on its way in';
    crash_and_restart();
    $lock->end;

    ok wait_until(120, sub { (job_row($id) // '') =~ /^completed/ }),
        'after the restart the job completes by itself';
    is job_row($id), 'completed 2', '  on its second attempt, after its lease';
    is $pg->psql("SELECT count(*) FROM videos WHERE job_id = '$id'"), 1,
        '  one video stored';
    is ledger(WALLET), 'signup 10, charge -1', '  charged once, no refund';
    is $pg->psql("SELECT prompt_points FROM users "
                 . "WHERE wallet_address = '" . WALLET . "'"), 9,
        '  the balance agrees';
    like $ngx->error_log, qr/job $id not recorded .*runs again when its lease/,
        '  error.log says the store was lost';
    my $v = $ngx->get("/api/videos/$id");
    is $v->{status}, 200, '  and it downloads';
    is $v->{body}, $pg->video_data($pg->psql(
        "SELECT video_id FROM videos WHERE job_id = '$id'")), '  byte-exact';
};

subtest 'killed while POST /api/generate creates its job' => sub {
    my $lock = $pg->session;
    $lock->run('BEGIN; LOCK TABLE video_jobs IN SHARE ROW EXCLUSIVE MODE;');

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ngx->port) or die;
    my $body = encode_json({ script => 'Never created.',
                             walletAddress => WALLET2 });
    print $s "POST /api/generate HTTP/1.1\r\nHost: localhost\r\n"
           . "Connection: close\r\nContent-Type: application/json\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n$body";
    ok waits_for_lock('%weaveit_create_job%'),
        'the POST is creating its job, waiting inside PostgreSQL';
    crash_and_restart();
    $lock->end;

    my ($head, $answer) = read_client($s, undef, 30);
    like $head, qr{^HTTP/1.1 503}, 'the POST is answered 503';
    is $answer, '{"error":"Database unavailable"}', '  in JSON';
    is $pg->psql("SELECT count(*) FROM video_jobs "
                 . "WHERE wallet_address = '" . WALLET2 . "'"), 0,
        '  no job';
    is $pg->psql("SELECT count(*) FROM users "
                 . "WHERE wallet_address = '" . WALLET2 . "'"), 0,
        '  no user';
    is ledger(WALLET2), '', '  no charge';

    my $r = post_job($ngx, script => 'Created now.', wallet => WALLET2);
    is $r->{status}, 202, 'the same POST again: 202';
    my $id = $r->{json}{jobId};
    ok wait_until(120, sub { (job_row($id) // '') =~ /^completed/ }),
        '  and the job completes';
    is job_row($id), 'completed 1', '  on its first attempt';
    is ledger(WALLET2), 'signup 10, charge -1', '  charged once';
};

# A slow download that has stopped reading: nginx holds the rest of a
# chunk (64k, more than the socket buffers take) and waits for the
# client, no query in flight.
sub paused_download {
    my ($video) = @_;
    my $s = open_client(port => $slow_port, rcvbuf => 16384,
                        path => "/api/videos/$video");
    my ($head, $body) = read_client($s, 100000);
    sleep 0.5;
    wait_until(10, sub {
        $pg->psql("SELECT count(*) FROM pg_stat_activity WHERE state = "
                  . "'active' AND query LIKE '%substring(video_data%'") == 0;
    });
    my $length = $head =~ /^Content-Length: (\d+)/mi ? $1 : 0;
    return ($s, $head, $body, $length);
}

my (undef, $video) = $pg->store_video(random_bytes(1 << 20, 7));
my $data = $pg->video_data($video);

subtest 'killed while a download waits for its client' => sub {
    my ($s, $head, $body, $length) = paused_download($video);
    like $head, qr{^HTTP/1.1 200}, 'a slow 1 MB download started';
    crash_and_restart();
    my ($rest) = read_more($s, $length - length $body, 60);
    $body .= $rest;
    ok $body eq $data, 'PostgreSQL back before its next chunk: the '
        . 'download goes on, complete and byte-exact';
};

subtest 'killed mid-download, still down at the next chunk' => sub {
    my ($s, $head, $body, $length) = paused_download($video);
    like $head, qr{^HTTP/1.1 200}, 'another slow download started';
    $pg->kill9;
    my ($rest, $eof) = read_more($s, undef, 60);
    $body .= $rest;
    ok $eof, 'the connection is closed';
    cmp_ok length $body, '<', $length, '  short of Content-Length';
    ok $body eq substr($data, 0, length $body), '  what came is right';
    like $ngx->error_log, qr/video stream aborted at byte \d+ of 1048576/,
        '  error.log says where';
    $pg->restart;
    ok wait_until(15, sub {
            my $r = $ngx->get("/api/videos/$video");
            $r->{status} == 200 && $r->{body} eq $data;
        }), 'after the restart it downloads in full';
};

is_deeply [ sort $ngx->worker_pids ], [ sort @workers ],
    'the same workers throughout';
is $pg->psql("SELECT count(*) FROM video_jobs "
             . "WHERE status NOT IN ('completed')"), 0,
    'no job left pending, generating or failed';
is $pg->psql("SELECT count(*) FROM users u WHERE prompt_points <> "
             . "(SELECT coalesce(sum(delta), 0) FROM points_ledger l "
             . "WHERE l.wallet_address = u.wallet_address)"), 0,
    'every balance is the sum of its ledger';

$ngx->stop;
my $log = $ngx->error_log;
unlike $log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';
unlike $log, qr/exited on signal/, 'no worker crashed';

done_testing;
