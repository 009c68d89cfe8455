# GET/HEAD /api/videos/:id: headers, every Range form, conditional
# requests, and the bytes compared with what PostgreSQL stores.  A 64k
# chunk makes the 300000-byte video span five chunks.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use WeaveIt::Test qw(random_bytes);

my $CHUNK = 65536;

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg,
    server => "location ~ ^/api/videos/(?<video_id>[^/]+)\$ {
                   weaveit_video \$video_id;
                   weaveit_video_chunk 64k;
               }");
$pg->wait_schema;

my ($job, $video) = $pg->store_video(random_bytes(300000, 1),
                                     title => 'Intro to Rust');
my $data = $pg->video_data($video);
my $len = length $data;
is $len, 300000, 'the big video is stored';
cmp_ok $len, '>', 3 * $CHUNK, 'and spans more than 3 chunks';

my ($sjob, $svideo) = $pg->store_video(random_bytes(1000, 2));
my $small = $pg->video_data($svideo);
cmp_ok length $small, '<', $CHUNK, 'the small video is less than a chunk';

sub get {
    my ($id, %h) = @_;
    my $method = delete $h{method} // 'GET';
    return $ngx->request(method => $method, path => "/api/videos/$id",
                         headers => \%h);
}

# whole video

my $r = get($video);
is $r->{status}, 200, 'GET is 200';
ok $r->{body} eq $data, 'the body is byte-exact';
my $h = $r->{headers};
is $h->{'content-type'}, 'video/mp4', 'Content-Type';
is $h->{'accept-ranges'}, 'bytes', 'Accept-Ranges';
is $h->{'content-length'}, $len, 'Content-Length';
is $h->{etag}, qq{"$video"}, 'a strong ETag from the video id';
like $h->{'last-modified'}, qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/,
    'Last-Modified';
is $h->{'cache-control'}, 'public, max-age=31536000, immutable',
    'Cache-Control';
is $h->{'content-disposition'}, 'inline; filename="Intro to Rust.mp4"',
    'Content-Disposition names the title';
ok !exists $h->{'content-range'}, 'no Content-Range on a 200';
ok !exists $h->{'transfer-encoding'}, 'not chunked';

my $head = get($video, method => 'HEAD');
is $head->{status}, 200, 'HEAD is 200';
is $head->{body}, '', 'HEAD has no body';
# but Date, which moves on when the second does between the two
my @same = grep { $_ ne 'date' } sort keys %$h;
is_deeply [ map { $head->{headers}{$_} } @same ],
          [ map { $h->{$_} } @same ], 'HEAD has the same headers';

$r = get($job);
is $r->{status}, 200, 'the job id finds the video';
ok $r->{body} eq $data, 'job id and video id give the same bytes';
is $r->{headers}{etag}, qq{"$video"}, 'with the video id as ETag';

$r = get(uc $video);
ok $r->{status} == 200 && $r->{body} eq $data, 'an upper-case id works';

$r = get($svideo);
ok $r->{status} == 200 && $r->{body} eq $small,
    'a video smaller than a chunk is byte-exact';
is $r->{headers}{'content-disposition'},
    qq{inline; filename="$svideo.mp4"}, 'without a title the id names it';

# single ranges: [Range, start, end (inclusive)]

my @ranges = (
    [ 'bytes=0-0',                 0,           0 ],
    [ 'bytes=0-99',                0,           99 ],
    [ 'bytes=100-',                100,         $len - 1 ],
    [ 'bytes=0-',                  0,           $len - 1 ],
    [ 'bytes=-500',                $len - 500,  $len - 1 ],
    [ 'bytes=-1',                  $len - 1,    $len - 1 ],
    [ "bytes=-$len",               0,           $len - 1 ],
    [ 'bytes=-9999999',            0,           $len - 1 ],
    [ "bytes=@{[$len - 1]}-",      $len - 1,    $len - 1 ],
    [ "bytes=@{[$len - 10]}-99999999", $len - 10, $len - 1 ],
    [ "bytes=@{[$CHUNK - 10]}-@{[3 * $CHUNK + 10]}",
                                   $CHUNK - 10, 3 * $CHUNK + 10 ],
    [ "bytes=$CHUNK-@{[2 * $CHUNK - 1]}", $CHUNK, 2 * $CHUNK - 1 ],
    [ "bytes=@{[$CHUNK - 1]}-$CHUNK", $CHUNK - 1, $CHUNK ],
    [ "bytes=1000-2000,$len-",     1000,        2000 ],
    [ 'BYTES=5-9',                 5,           9 ],
    [ 'bytes= 5 - 9 ',             5,           9 ],
);

for my $t (@ranges) {
    my ($range, $from, $to) = @$t;
    $r = get($video, Range => $range);
    is $r->{status}, 206, "$range: 206";
    is $r->{headers}{'content-range'}, "bytes $from-$to/$len",
        "$range: Content-Range";
    is $r->{headers}{'content-length'}, $to - $from + 1,
        "$range: Content-Length";
    ok $r->{body} eq substr($data, $from, $to - $from + 1),
        "$range: byte-exact";
}

$r = get($svideo, Range => 'bytes=-0');
is $r->{status}, 416, 'small video, bytes=-0: 416';
$r = get($svideo, Range => 'bytes=990-');
ok $r->{status} == 206 && $r->{body} eq substr($small, 990),
    'small video, the last 10 bytes';

$head = get($video, method => 'HEAD', Range => 'bytes=10-19');
is $head->{status}, 206, 'HEAD with a range is 206';
is $head->{headers}{'content-range'}, "bytes 10-19/$len", 'with Content-Range';
is $head->{body}, '', 'and no body';

# unsatisfiable

for my $range ('bytes=-0', "bytes=$len-", "bytes=$len-" . ($len + 10),
               'bytes=99999999-', "bytes=$len-,-0", 'bytes=2147483000-',
               'bytes=3000000000-3000000010')
{
    $r = get($video, Range => $range);
    is $r->{status}, 416, "$range: 416";
    is $r->{headers}{'content-range'}, "bytes */$len",
        "$range: Content-Range bytes */$len";
}

# ignored: not bytes, not valid, or several ranges (answered whole)

for my $range ('items=0-10', 'bytes=abc', 'bytes=', 'bytes=5-2', 'bytes=-',
               'bytes=1-2-3', 'bytes=0-10;', 'bytes 0-10',
               'bytes=99999999999999999999-', 'bytes=0-9,20-29',
               'bytes=0-10,5-15')
{
    $r = get($video, Range => $range);
    is $r->{status}, 200, "$range: 200";
    ok $r->{body} eq $data, "$range: the whole video";
    ok !exists $r->{headers}{'content-range'}, "$range: no Content-Range";
}

# conditional requests

my $etag = qq{"$video"};
my $lm = $h->{'last-modified'};

for my $inm ($etag, "W/$etag", '*', qq{"x", $etag}, qq{ "a","b" , $etag })
{
    $r = get($video, 'If-None-Match' => $inm);
    is $r->{status}, 304, "If-None-Match: $inm: 304";
    is $r->{body}, '', "If-None-Match: $inm: no body";
}
is $r->{headers}{etag}, $etag, '304 has the ETag';
is $r->{headers}{'cache-control'}, 'public, max-age=31536000, immutable',
    '304 has Cache-Control';

$r = get($video, 'If-None-Match' => $etag, Range => 'bytes=0-9');
is $r->{status}, 304, 'If-None-Match wins over Range';

$r = get($video, 'If-None-Match' => '"other"');
ok $r->{status} == 200 && $r->{body} eq $data,
    'a non-matching If-None-Match: 200 full';

$r = get($video, 'If-Modified-Since' => $lm);
is $r->{status}, 304, 'If-Modified-Since Last-Modified: 304';
$r = get($video, 'If-Modified-Since' => 'Thu, 01 Jan 1970 00:00:01 GMT');
is $r->{status}, 200, 'an older If-Modified-Since: 200';
$r = get($video, 'If-Modified-Since' => $lm, 'If-None-Match' => '"other"');
is $r->{status}, 200, 'If-None-Match overrides If-Modified-Since';

$r = get($video, 'If-Match' => '"other"');
is $r->{status}, 412, 'a non-matching If-Match: 412';
$r = get($video, 'If-Match' => $etag, Range => 'bytes=0-9');
is $r->{status}, 206, 'a matching If-Match: served';

for my $t ([ $etag, 206 ], [ $lm, 206 ], [ '"other"', 200 ],
           [ "W/$etag", 200 ], [ 'Thu, 01 Jan 1970 00:00:01 GMT', 200 ])
{
    my ($ir, $status) = @$t;
    $r = get($video, 'If-Range' => $ir, Range => 'bytes=10-19');
    is $r->{status}, $status, "If-Range: $ir: $status";
    ok $r->{body} eq ($status == 206 ? substr($data, 10, 10) : $data),
        "If-Range: $ir: the right bytes";
}

# not there, or not an id

for my $id ('00000000-0000-0000-0000-000000000000',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')
{
    $r = get($id);
    is $r->{status}, 404, "unknown $id: 404";
    is $r->{body}, '{"error":"Video not found"}', "unknown $id: JSON";
}

my ($pending) = $pg->store_video('', status => 'generating', no_video => 1);
$r = get($pending);
is $r->{status}, 404, 'a job still generating: 404';
is $r->{body}, '{"error":"Video not found"}', 'with the same JSON';

for my $id ('abc', '1', 'a0eebc999c0b4ef8bb6d6bb9bd380a11',
            '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11x',
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1'",
            'a0eebc99x9c0b-4ef8-bb6d-6bb9bd380a11')
{
    $r = get($id);
    is $r->{status}, 400, "not a UUID ($id): 400";
    like $r->{body}, qr/^\{"error":"[^"]+"\}$/, "not a UUID ($id): JSON";
}

for my $method (qw(POST PUT DELETE)) {
    $r = $ngx->request(method => $method, path => "/api/videos/$video",
                       body => '{}');
    is $r->{status}, 405, "$method: 405";
    is $r->{headers}{allow}, 'GET, HEAD', "$method: Allow";
}

# Content-Disposition keeps odd titles safe

for my $t ([ 'say "hi" \\ bye', 'inline; filename="say \\"hi\\" \\\\ bye.mp4"' ],
           [ "tab\there", 'inline; filename="tab_here.mp4"' ],
           [ "Caf\x{e9} \x{1f980}",
             q{inline; filename="Caf_ _.mp4"; }
             . q{filename*=UTF-8''Caf%C3%A9%20%F0%9F%A6%80.mp4} ],
           [ '   ', undef ])
{
    my ($title, $want) = @$t;
    my $bytes = $title;
    utf8::encode($bytes);
    my (undef, $v) = $pg->store_video('x', title => $bytes);
    $want //= qq{inline; filename="$v.mp4"};
    $r = get($v, method => 'HEAD');
    is $r->{headers}{'content-disposition'}, $want,
        "Content-Disposition for title '$bytes'";
}

my (undef, $long) = $pg->store_video('x', title => 'é' x 80);
$r = get($long, method => 'HEAD');
like $r->{headers}{'content-disposition'},
    qr/^inline; filename="_{50}\.mp4"; filename\*=UTF-8''(%C3%A9){50}\.mp4$/,
    'a long title is cut at a character boundary';

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
