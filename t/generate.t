# POST /api/generate end to end: 202, the job moves through pending and
# generating to completed with progress 100, the stored video is a real
# H.264/AAC MP4 with duration_sec filled, and wait mode answers exactly
# like the original service.  The fonts are fontconfig patterns (the
# generator opens the prose font's bold and oblique before it takes a
# job), and a script in several languages logs no character without a
# glyph.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use WeaveIt::Test;
use WeaveIt::Jobs qw(api_locations thread_pool post_job job_status wait_job
                     stored_video ffprobe_json script_words WALLET);

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
          . 'weaveit_max_jobs 1; weaveit_video_size 640x360;'
          . 'weaveit_font "DejaVu Sans Mono";'
          . 'weaveit_prose_font "DejaVu Serif";',
    server => api_locations());

# A long job A holds the only slot, so job B is seen pending.
my $a = post_job($ngx, script => script_words(120), title => 'Long one');
is $a->{status}, 202, 'POST answers 202';
my $id = $a->{json}{jobId};
like $id, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    'with a random UUID job id';
is_deeply $a->{json}, { jobId => $id, status => 'pending',
                        statusUrl => "/api/videos/status/$id",
                        videoUrl => "/api/videos/$id" },
    'and the documented body';
like $a->{headers}{location}, qr{/api/videos/status/$id$},
    'Location points at the status';

my $b = post_job($ngx, script => 'Short second job.');
my $bid = $b->{json}{jobId};
is job_status($ngx, $bid)->{status}, 'pending',
    'a job waits pending while the thread pool is busy';

my ($seen, $st) = wait_job($ngx, $id);
is_deeply [ grep { $_ ne 'pending' } @$seen ], [ 'generating', 'completed' ],
    "job A went generating -> completed (@$seen)";
is $st->{progress}, 100, 'progress 100 at the end';
is $st->{ready}, JSON::PP::true, 'ready';
is $st->{videoAvailable}, JSON::PP::true, 'videoAvailable';
is $st->{error}, undef, 'error null';
like $st->{createdAt}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
    'createdAt is ISO 8601 UTC';

my ($seen_b) = wait_job($ngx, $bid);
is $seen_b->[-1], 'completed', 'job B completed after A';

my $file = stored_video($pg, $id, $ngx->dir . '/a.mp4');
my $probe = ffprobe_json($file);
my ($v) = grep { $_->{codec_type} eq 'video' } @{ $probe->{streams} // [] };
my ($au) = grep { $_->{codec_type} eq 'audio' } @{ $probe->{streams} // [] };
is $v->{codec_name}, 'h264', 'stored video is H.264';
is "$v->{width}x$v->{height}", '640x360', 'at weaveit_video_size';
is $v->{pix_fmt}, 'yuv420p', 'yuv420p';
is $au->{codec_name}, 'aac', 'with AAC audio';
is `ffmpeg -v error -i '$file' -f null - 2>&1`, '', 'decodes without error';
my $dur = $probe->{format}{duration};
cmp_ok $dur, '>', 10, "a long script makes a long video ($dur s)";
is $pg->psql("SELECT duration_sec FROM videos WHERE job_id = '$id'"),
    int($dur + 0.5), 'duration_sec filled';
is $pg->psql("SELECT script_body IS NULL FROM video_jobs "
             . "WHERE job_id = '$id'"), 't',
    'script cleared after success (weaveit_keep_script off)';
is $pg->psql("SELECT attempts || ' ' || title FROM video_jobs "
             . "WHERE job_id = '$id'"), '1 Long one', 'one attempt, titled';

ok WeaveIt::Test::wait_until(10, sub { $ngx->error_log
        =~ /weaveit: job $id completed, 0 characters with no glyph/ }),
    'the job log counts the characters without a glyph';

# Wait mode, by argument; the script in several languages (issue 14).
my $w = post_job($ngx, query => '?wait=1',
    script => "Wait for me \x{1f389}, \x{4e2d}\x{6587}, \x{645}\x{631}"
            . "\x{62d}\x{628}\x{627}, \x{5e9}\x{5dc}\x{5d5}\x{5dd}.");
is $w->{status}, 200, 'wait mode answers 200';
is_deeply [ sort keys %{ $w->{json} } ], [qw(jobId message status videoId)],
    'with exactly the original fields';
is $w->{json}{status}, 'completed', 'status completed';
is $w->{json}{message}, 'Educational tutorial video generated successfully',
    'the original message';
is $pg->psql("SELECT job_id FROM videos "
             . "WHERE video_id = '$w->{json}{videoId}'"), $w->{json}{jobId},
    'videoId is the stored video of jobId';
like $ngx->error_log,
    qr/weaveit: job $w->{json}{jobId} completed, 0 characters with no glyph/,
    '  emoji, Chinese, Arabic and Hebrew: no character without a glyph';

# A wait-mode client that leaves does not cancel its job.
{
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ngx->port) or die $!;
    my $body = encode_json({ script => script_words(300),
                             walletAddress => WALLET });
    print $sock "POST /api/generate?wait=1 HTTP/1.1\r\nHost: x\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    WeaveIt::Test::wait_until(10, sub { $pg->psql(
        "SELECT count(*) FROM video_jobs WHERE status = 'generating'") });
    close $sock;
}
ok WeaveIt::Test::wait_until(60, sub { $pg->psql(
        "SELECT count(*) FROM video_jobs WHERE status = 'completed'") == 4 }),
    'a wait-mode client that left: its job completes all the same';
is $ngx->get('/api/db/health')->{status}, 200, 'and the worker is fine';

# The format reaches the generator (issue 15): a script of one code block
# is shown, not spoken, and held for 1 s + 0.3 s a line; as text, every
# line of it is read aloud.
my $code = "```python\n"
         . "say('the quick brown fox jumps over the lazy dog once more')\n"
         . "say('and the dog sleeps on under the warm sun all day long')\n"
         . "```\n";
for my $c ([ 'markdown', 'markdown', 1.5, 1.9 ],
           [ 'detected', undef, 1.5, 1.9 ], [ 'text', 'text', 4, 60 ])
{
    my ($name, $format, $min, $max) = @$c;
    my $m = post_job($ngx, query => '?wait=1', script => $code,
                     defined $format ? (format => $format) : ());
    is $m->{json}{status}, 'completed', "a code block as $name: completed";
    my $f = stored_video($pg, $m->{json}{jobId}, $ngx->dir . "/$name.mp4");
    my $d = ffprobe_json($f)->{format}{duration} // 0;
    ok $d >= $min && $d <= $max,
        "  lasts $min to $max s ($d s): "
        . ($name eq 'text' ? 'spoken' : 'a pause of 2 lines, unspoken');
}

# "theme": the page of a dark video is dark, a light one's white
for my $theme ('dark', 'light') {
    my $t = post_job($ngx, query => '?wait=1', script => 'Dark or light.',
                     theme => $theme);
    my $f = stored_video($pg, $t->{json}{jobId}, $ngx->dir . "/$theme.mp4");
    my $cmd = "ffmpeg -nostdin -v error -i '$f' -frames:v 1 -f rawvideo "
            . '-pix_fmt gray -vf crop=16:16:0:0 -';
    my $luma = `$cmd`;
    my $mean = 0;
    $mean += $_ for unpack 'C*', $luma;
    $mean /= length($luma) || 1;
    ok $theme eq 'dark' ? $mean < 60 : $mean > 200,
        "theme $theme: the page's luma is $mean";
}

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

# weaveit_video_cfr on: every frame encoded, at the configured rate (and
# above, without it, far fewer)
my $cfr = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
          . 'weaveit_video_size 320x180; weaveit_video_fps 12;'
          . 'weaveit_video_cfr on;',
    server => api_locations());
my $c = post_job($cfr, query => '?wait=1', script => script_words(12));
is $c->{json}{status}, 'completed', 'weaveit_video_cfr on: completed';
my $cf = stored_video($pg, $c->{json}{jobId}, $cfr->dir . '/cfr.mp4');
my $cmd = "ffprobe -v error -select_streams v -count_frames -show_entries "
        . "stream=avg_frame_rate,nb_read_frames,duration -of json '$cf'";
my $probe_cfr = `$cmd`;
my ($s) = @{ (eval { decode_json($probe_cfr) } // {})->{streams} // [{}] };
is $s->{avg_frame_rate}, '12/1', '  avg_frame_rate is the configured 12/1';
is $s->{nb_read_frames}, int($s->{duration} * 12 + 0.5),
    "  every frame is there ($s->{nb_read_frames} in $s->{duration} s)";
$cfr->stop;

done_testing;
