# conf/weaveit-cache.conf, the shipped example of a per-host video cache
# (proxy_cache in 1 MB slices in front of the module's video location),
# moved into a test directory (t/lib/WeaveIt/Cache.pm): every Range and
# conditional form answered through the cache as the module answers it,
# byte for byte, cold and then from the cache; a cached video served while
# PostgreSQL is stopped; a 404 (a job whose video is not made yet) never
# kept; status, lists and points never cached; a video deleted after part
# of it was cached; a slice past its hour revalidated, served stale while
# PostgreSQL is down, and gone once its video is deleted.  The example's
# signatures are turned off so that the lists and points answer 200 to
# plain requests.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use WeaveIt::Test qw(random_bytes wait_until open_client read_client);
use WeaveIt::Cache;

my $MB = 1 << 20;
my $WALLET = '7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU';

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Cache::start(pg => $pg, auth => 'off');
$pg->wait_schema;
my @workers = $ngx->worker_pids;

# A 3.5 MB video: four slices, the last one short.
my $len = 3_500_000;
my ($job, $video) = $pg->store_video(random_bytes($len, 17),
                                     title => 'Cached', wallet => $WALLET);
my $data = $pg->video_data($video);
is length $data, $len, 'a video of four slices is stored';

sub through_cache {
    my ($path, %a) = @_;
    return $ngx->request(path => $path, %a);
}

sub direct {
    my ($path, %a) = @_;
    return WeaveIt::Test::http_request(port => $ngx->{origin}, path => $path,
                                       %a);
}

# whole videos

my $r = through_cache("/api/videos/$video");
is $r->{status}, 200, 'a whole video through the cache: 200';
is $r->{headers}{'x-cache-status'}, 'MISS', '  fetched on the first view';
ok $r->{body} eq $data, '  byte-exact';
is scalar(WeaveIt::Cache::files($ngx)), 4, '  and kept as its four slices';

my $d = direct("/api/videos/$video");
for my $h (qw(content-type content-length etag last-modified cache-control
              content-disposition accept-ranges))
{
    is $r->{headers}{$h}, $d->{headers}{$h}, "  $h as the module says";
}

$r = through_cache("/api/videos/$video");
is $r->{headers}{'x-cache-status'}, 'HIT', 'the second view is a HIT';
ok $r->{body} eq $data, '  byte-exact';

$r = through_cache("/api/videos/$job");
is $r->{status}, 200, 'by its job id too';
ok $r->{body} eq $data, '  byte-exact';

$r = through_cache("/api/videos/$video", method => 'HEAD');
is $r->{status}, 200, 'HEAD: 200';
is $r->{headers}{'content-length'}, $len, '  the length';
is $r->{body}, '', '  no body';

# Range and conditional requests, each compared with the module's own
# answer: status, Content-Range, Content-Length and bytes.  Through the
# cache, nginx's range and not-modified filters answer the client from the
# slices; a 416 is nginx's own page when the start falls in the last slice
# (past the end) and a 412 always is: their bodies are not compared.

my $etag = $d->{headers}{etag};
my $date = $d->{headers}{'last-modified'};
my @cases = (
    [ 'the first byte', Range => 'bytes=0-0' ],
    [ 'the first 100 bytes', Range => 'bytes=0-99' ],
    [ 'two bytes across a slice boundary',
      Range => "bytes=${\($MB - 1)}-$MB" ],
    [ 'three slices', Range => 'bytes=1000000-2200000' ],
    [ 'the short last slice', Range => 'bytes=' . 3 * $MB . '-' ],
    [ 'the last byte', Range => 'bytes=' . ($len - 1) . '-' ],
    [ 'a suffix', Range => 'bytes=-500' ],
    [ 'a suffix longer than the video', Range => 'bytes=-5000000' ],
    [ 'an end past the end', Range => 'bytes=100-9999999' ],
    [ 'all of it as a range', Range => 'bytes=0-' ],
    [ 'a start at the end: 416', Range => "bytes=$len-" ],
    [ 'a start past the end in the last slice: 416',
      Range => 'bytes=3600000-' ],
    [ 'a start far past the end: 416', Range => 'bytes=9999999-' ],
    [ 'bytes=-0: 416', Range => 'bytes=-0' ],
    [ 'several ranges: the whole video', Range => 'bytes=0-1,5-6' ],
    [ 'another unit: the whole video', Range => 'items=0-5' ],
    [ 'If-Range with the ETag', Range => 'bytes=10-20',
      'If-Range' => $etag ],
    [ 'If-Range with another ETag: the whole video',
      Range => 'bytes=10-20', 'If-Range' => '"other"' ],
    [ 'If-Range with Last-Modified', Range => 'bytes=2000000-2000010',
      'If-Range' => $date ],
    [ 'If-None-Match with the ETag: 304', 'If-None-Match' => $etag ],
    [ 'If-None-Match: * : 304', 'If-None-Match' => '*' ],
    [ 'If-None-Match with another ETag: 200',
      'If-None-Match' => '"other"' ],
    [ 'If-None-Match with the ETag and a Range: 304',
      'If-None-Match' => $etag, Range => 'bytes=0-9' ],
    [ 'If-Modified-Since Last-Modified: 304',
      'If-Modified-Since' => $date ],
    [ 'If-Match another ETag: 412', 'If-Match' => '"other"' ],
    [ 'If-Match the ETag and a Range', 'If-Match' => $etag,
      Range => 'bytes=5-9' ],
);

for my $pass ('cold', 'cached') {
    # the first pass starts from an empty cache: each case fetches what it
    # covers; the second finds every slice there
    if ($pass eq 'cold') {
        unlink WeaveIt::Cache::files($ngx);
    }
    for my $c (@cases) {
        my ($name, %h) = @$c;
        my $got = through_cache("/api/videos/$video", headers => \%h);
        my $want = direct("/api/videos/$video", headers => \%h);
        my $what = "$pass: $name";
        is $got->{status}, $want->{status}, "$what: $want->{status}";
        is $got->{headers}{'content-range'}, $want->{headers}{'content-range'},
            "$what: Content-Range";
        next if $want->{status} == 416 || $want->{status} == 412;
        is $got->{headers}{'content-length'},
           $want->{headers}{'content-length'}, "$what: Content-Length";
        ok $got->{body} eq $want->{body}, "$what: the same bytes";
    }
}

# The one difference: a Range that does not parse is nginx's 416, as for
# its static files, where the module ignores it (README).
$r = through_cache("/api/videos/$video", headers => { Range => 'bytes=x' });
is $r->{status}, 416, 'a Range that does not parse: nginx\'s 416';
is $r->{headers}{'content-range'}, "bytes */$len", '  with the length';
is direct("/api/videos/$video", headers => { Range => 'bytes=x' })->{status},
    200, '  where the module serves the whole video';

# served from the cache while PostgreSQL is stopped

my ($job2, $video2) = $pg->store_video(random_bytes(1000, 3),
                                       wallet => $WALLET);
$pg->stop;

$r = through_cache("/api/videos/$video");
is $r->{status}, 200, 'PostgreSQL stopped: a cached video is still 200';
is $r->{headers}{'x-cache-status'}, 'HIT', '  a HIT';
ok $r->{body} eq $data, '  byte-exact';
$r = through_cache("/api/videos/$video",
                   headers => { Range => 'bytes=1048000-2098000' });
is $r->{status}, 206, '  a range of it: 206';
ok $r->{body} eq substr($data, 1048000, 1050001), '  byte-exact';

$r = through_cache("/api/videos/$video2");
is $r->{status}, 503, '  a video never viewed: 503';
$r = through_cache("/api/videos/status/$job");
is $r->{status}, 503, '  and the status: 503, not cached';

$pg->restart;
ok wait_until(30, sub {
        through_cache('/api/db/health')->{status} == 200 }),
    'PostgreSQL back';
$r = through_cache("/api/videos/$video2");
is $r->{status}, 200, '  the video never viewed: 200 (the 503 was not kept)';
ok $r->{body} eq $pg->video_data($video2), '  byte-exact';

# a 404 is not kept: a job whose video is not made yet

my ($pending) = $pg->store_video('', no_video => 1, status => 'generating',
                                 wallet => $WALLET);
$r = through_cache("/api/videos/$pending");
is $r->{status}, 404, 'a job without its video yet: 404';
like $r->{body}, qr/^\{"error":"Video not found"\}/, '  the module\'s JSON';
$pg->psql("INSERT INTO videos (job_id, wallet_address, video_data) "
          . "VALUES ('$pending', '$WALLET', '\\x00010203'::bytea)");
$r = through_cache("/api/videos/$pending");
is $r->{status}, 200, '  once made: 200, the 404 was not kept';
is $r->{body}, "\x00\x01\x02\x03", '  its bytes';

$r = through_cache('/api/videos/not-a-uuid');
is $r->{status}, 400, 'an invalid id: the module\'s 400';
like $r->{body}, qr/^\{"error":"Invalid video id"\}/, '  in JSON';

# status, lists and points never cached

my @slices = sort(WeaveIt::Cache::files($ngx));

$r = through_cache("/api/videos/status/$pending");
is $r->{status}, 200, 'status: 200';
ok !exists $r->{headers}{'x-cache-status'}, '  not through the cache';
$pg->psql("UPDATE video_jobs SET status = 'failed', error_message = 'x' "
          . "WHERE job_id = '$pending'");
$r = through_cache("/api/videos/status/$pending");
is eval { decode_json($r->{body})->{status} }, 'failed',
    '  a change is seen at once';

sub list_ids {
    my $res = through_cache("/api/wallet/$WALLET/videos");
    my $list = eval { decode_json($res->{body}) } // {};
    $list = $list->{videos} // [] if ref $list eq 'HASH';
    return ($res, join ' ', sort map { $_->{videoId} // $_->{id} // '' }
                                     @$list);
}

my ($lr, $before) = list_ids();
is $lr->{status}, 200, 'the wallet\'s list: 200';
ok !exists $lr->{headers}{'x-cache-status'}, '  not through the cache';
my (undef, $video3) = $pg->store_video(random_bytes(10, 4),
                                       wallet => $WALLET);
my (undef, $after) = list_ids();
ok $after ne $before && $after =~ /\Q$video3\E/,
    '  a new video is listed at once';

sub points {
    my $res = through_cache("/api/users/$WALLET/points");
    return ($res, eval { decode_json($res->{body})->{points} } // -1);
}

my ($pr, $points) = points();
is $pr->{status}, 200, 'the wallet\'s points: 200';
ok !exists $pr->{headers}{'x-cache-status'}, '  not through the cache';
my $award = encode_json({ walletAddress => $WALLET, points => 7,
                          note => 't/cache.t' });
$r = through_cache('/api/admin/points', method => 'POST', body => $award,
                   headers => { 'Content-Type' => 'application/json' });
is $r->{status}, 200, '  7 points awarded';
is +(points())[1], $points + 7, '  seen at once';

is_deeply [ sort(WeaveIt::Cache::files($ngx)) ], \@slices,
    'status, lists, points, the 404 and the 400 left no file in the cache';

# A video deleted after part of it was cached: the cached slice is still
# served until it is revalidated or purged (README); a range beyond it
# answers the 404; a whole download stops short at the first missing
# slice, the connection closed, and nothing else breaks.

my ($job4, $video4) = $pg->store_video(random_bytes(3 * $MB, 5),
                                       wallet => $WALLET);
my $data4 = $pg->video_data($video4);
$r = through_cache("/api/videos/$video4",
                   headers => { Range => 'bytes=0-99' });
is $r->{status}, 206, 'a video of three slices, its first 100 bytes: 206';
$pg->psql("DELETE FROM videos WHERE video_id = '$video4'");

$r = through_cache("/api/videos/$video4",
                   headers => { Range => 'bytes=0-99' });
is $r->{status}, 206, 'deleted: the cached first slice is still served';
ok $r->{body} eq substr($data4, 0, 100), '  byte-exact';

$r = through_cache("/api/videos/$video4",
                   headers => { Range => 'bytes=2500000-2500099' });
is $r->{status}, 404, '  a range in a slice never cached: 404';
like $r->{body}, qr/^\{"error":"Video not found"\}/, '  the module\'s JSON';

my $s = open_client(port => $ngx->port, path => "/api/videos/$video4");
my ($head, $body, $eof) = read_client($s, undef, 20);
like $head, qr{^HTTP/1\.1 200 .*\r\nContent-Length: ${\(3 * $MB)}\r\n}s,
    '  the whole video: 200 with its whole length';
ok $eof, '  then the connection is closed';
cmp_ok length $body, '<', 3 * $MB, '  short of the length';
ok substr($data4, 0, length $body) eq $body, '  what came is byte-exact';
close $s;
like $ngx->error_log, qr/unexpected status code 404 in slice response/,
    '  error.log says why';

is_deeply [ sort $ngx->worker_pids ], [ sort @workers ],
    'no worker died';
is through_cache('/api/db/health')->{status}, 200, 'health is still 200';

# Past its hour (here 2 s, in an nginx of its own) a slice is revalidated
# with a 304 from the module; with PostgreSQL down it is served stale;
# once its video is deleted the 404 goes to the client.

my $fresh = WeaveIt::Cache::start(pg => $pg, auth => 'off', valid => '2s');
my ($job5, $video5) = $pg->store_video(random_bytes(2000, 6),
                                       wallet => $WALLET);
my $data5 = $pg->video_data($video5);
sub after_expiry {
    sleep 3.1;
    return $fresh->get("/api/videos/$video5");
}

$r = $fresh->get("/api/videos/$video5");
is $r->{headers}{'x-cache-status'}, 'MISS', 'a slice valid for 2 s: MISS';
$r = after_expiry();
is $r->{headers}{'x-cache-status'}, 'REVALIDATED',
    '  past its time: REVALIDATED';
ok $r->{body} eq $data5, '  byte-exact';
$pg->stop;
$r = after_expiry();
is $r->{headers}{'x-cache-status'}, 'STALE', '  PostgreSQL stopped: STALE';
ok $r->{body} eq $data5, '  byte-exact';
$pg->restart;
ok wait_until(30, sub { $fresh->get('/api/db/health')->{status} == 200 }),
    '  PostgreSQL back';
$pg->psql("DELETE FROM videos WHERE video_id = '$video5'");
$r = after_expiry();
is $r->{status}, 404, '  its video deleted: 404 at the next revalidation';

for my $n ($ngx, $fresh) {
    $n->stop;
    unlike $n->error_log, qr/\[(alert|emerg|crit)\]/,
        'no alert in error.log';
}

done_testing;
