# Streaming under load and when things go wrong: 200 concurrent downloads
# through a pool of 2 connections, clients that leave mid-stream, a video
# deleted and a database stopped mid-stream, a database down before the
# first byte.  A 64k chunk; a small socket buffer on a second listener
# keeps the server from running ahead of a slow client.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use WeaveIt::Test qw(parallel_requests random_bytes wait_until free_port
                     open_client read_client);

my $location = 'location ~ ^/api/videos/(?<video_id>[^/]+)$ {
                    weaveit_video $video_id;
                    weaveit_video_chunk 64k;
                }';
my $slow_port = free_port();

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, workers => 2,
    http => "weaveit_db_pool max=2 timeout=20s;
             server {
                 listen 127.0.0.1:$slow_port sndbuf=32k;
                 send_timeout 2s;
                 $location
             }",
    server => $location);
$pg->wait_schema;

my (undef, $video) = $pg->store_video(random_bytes(1 << 20, 3));
my $data = $pg->video_data($video);
is length $data, 1 << 20, 'a 1 MB video (16 chunks)';

my $busy = "SELECT count(*) FROM pg_stat_activity "
         . "WHERE application_name LIKE 'weaveit/%' AND state <> 'idle'";
my $per_worker = "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n "
    . "FROM pg_stat_activity WHERE application_name LIKE 'weaveit/%' "
    . "GROUP BY application_name) s";

# 200 at once through max=2

my $t0 = time;
my @res = parallel_requests(200, port => $ngx->port,
                            path => "/api/videos/$video", timeout => 120);
my $took = time - $t0;
is scalar(@res), 200, '200 responses';
is scalar(grep { $_->{status} == 200 } @res), 200, 'all 200';
is scalar(grep { $_->{body} eq $data } @res), 200,
    sprintf('all byte-exact (%.1f s)', $took);
cmp_ok $pg->psql($per_worker), '<=', 2,
    'still at most 2 connections per worker';

sub content_length { $_[0] =~ /^Content-Length: (\d+)/mi ? $1 : -1 }

# clients that leave after the first chunk

my @workers = sort $ngx->worker_pids;
my @clients = map { open_client(port => $slow_port, rcvbuf => 16384,
                                 path => "/api/videos/$video") } 1 .. 20;
my $started = 0;
for my $s (@clients) {
    my ($head, $body) = read_client($s, 1);
    $started++ if $head =~ m{^HTTP/1.1 200} && length $body;
}
is $started, 20, '20 slow downloads started';
close $_ for @clients;

ok wait_until(5, sub { $pg->psql($busy) == 0 }),
    'their closing leaves no busy PostgreSQL connection';
ok wait_until(5, sub {
        my $out = `ss -Htn state close-wait '( sport = :$slow_port )'`;
        $out !~ /\S/;
    }), 'and no half-closed client connection on the nginx side';
is_deeply [ sort $ngx->worker_pids ], \@workers, 'the workers are the same';
my $r = $ngx->get("/api/videos/$video");
ok $r->{status} == 200 && $r->{body} eq $data, 'and they keep serving';

# a client that stops reading: send_timeout closes it, the pool is free

my $s = open_client(port => $slow_port, rcvbuf => 16384,
                    path => "/api/videos/$video");
my ($head, $body) = read_client($s, 1);
like $head, qr{^HTTP/1.1 200}, 'a download that stops reading';
ok wait_until(10, sub { $ngx->error_log =~ /client timed out/ }),
    'send_timeout ends it';
(undef, my $rest, my $eof) = read_client($s, undef, 10);
$body .= $rest;
ok $eof && length $body < length $data,
    'the connection is closed short of the whole video';
ok wait_until(5, sub { $pg->psql($busy) == 0 }),
    'and no PostgreSQL connection is held';

# clients that leave while their query waits for a frozen database

$pg->freeze;
@clients = map { open_client(port => $ngx->port,
                             path => "/api/videos/$video") } 1 .. 5;
sleep 0.5;
close $_ for @clients;
sleep 0.2;
$pg->thaw;
ok wait_until(10, sub { $pg->psql($busy) == 0 }),
    'clients gone during a query: no busy connection once it answers';
$r = $ngx->get("/api/videos/$video");
ok $r->{status} == 200 && $r->{body} eq $data, 'the pool still serves';

# the video deleted mid-stream: the response is cut, not passed off as
# complete

my (undef, $big) = $pg->store_video(random_bytes(4 << 20, 4));
$s = open_client(port => $slow_port, rcvbuf => 16384,
                 path => "/api/videos/$big");
($head, $body) = read_client($s, 100000);
like $head, qr{^HTTP/1.1 200}, 'a 4 MB download started';
$pg->psql("DELETE FROM videos WHERE video_id = '$big'");
(undef, $rest, $eof) = read_client($s, undef, 20);
$body .= $rest;
ok $eof, 'video deleted mid-stream: the connection is closed';
cmp_ok length $body, '<', content_length($head),
    'before Content-Length bytes: the client sees a short body';
like $ngx->error_log, qr/changed or was deleted while being sent/,
    'error.log says why';

# the database stopped mid-stream

(undef, $big) = $pg->store_video(random_bytes(4 << 20, 5));
$s = open_client(port => $slow_port, rcvbuf => 16384,
                 path => "/api/videos/$big");
($head, $body) = read_client($s, 100000);
like $head, qr{^HTTP/1.1 200}, 'another download started';
$pg->stop('immediate');
(undef, $rest, $eof) = read_client($s, undef, 30);
$body .= $rest;
ok $eof, 'database stopped mid-stream: the connection is closed';
cmp_ok length $body, '<', content_length($head),
    'before Content-Length bytes';
like $ngx->error_log, qr/video stream aborted at byte \d+ of 4194304/,
    'error.log says where';

# the database down before the first byte

for my $method (qw(GET HEAD)) {
    $r = $ngx->request(method => $method, path => "/api/videos/$video");
    is $r->{status}, 503, "database down: $method 503";
}
$r = $ngx->get("/api/videos/$video");
is $r->{body}, '{"error":"Database unavailable"}', 'with a JSON error';
ok !exists $r->{headers}{etag}, 'and no video header';

$pg->restart;
ok wait_until(15, sub {
        my $r = $ngx->get("/api/videos/$video");
        $r->{status} == 200 && $r->{body} eq $data;
    }), 'database back: served again without touching nginx';

my $t = time;
$ngx->stop;
cmp_ok time - $t, '<', 10, 'nginx stops gracefully at once: nothing hangs';
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
