# A real browser: headless Chromium (Debian's, driven by playwright-core
# from npm, which `make test` installs into build/browser) plays an H.264
# MP4 from <video src="/api/videos/ID">: metadata with the right duration,
# a seek to the middle, playback.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use WeaveIt::Test;

my $root = WeaveIt::Test::root();
my $playwright = "$root/build/browser/node_modules/playwright-core";

for my $need (['/usr/bin/chromium', -x '/usr/bin/chromium'],
              ['node', !system('node --version > /dev/null 2>&1')],
              ['ffmpeg', !system('ffmpeg -version > /dev/null 2>&1')],
              ['playwright-core (make test installs it: npm install '
               . '--prefix build/browser playwright-core@1.61.1)', -d $playwright])
{
    ok $need->[1], "$need->[0] is there" or BAIL_OUT("$need->[0] missing");
}

# 20 s, a keyframe every second, ~4 MB: too big for one read, so seeking
# takes more requests
my $dir = WeaveIt::Test::new_dir();
my $mp4 = "$dir/tutorial.mp4";
system('ffmpeg', '-loglevel', 'error', '-y',
       '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
       '-f', 'lavfi', '-i', 'sine=frequency=440',
       '-t', '20', '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '1500k',
       '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac',
       '-movflags', '+faststart', $mp4) == 0 or BAIL_OUT('ffmpeg failed');
my $duration = `ffprobe -v error -show_entries format=duration -of csv=p=0 $mp4`;
chomp $duration;
like $duration, qr/^\d+\.\d+$/, "the MP4 lasts $duration s";

my $pg = WeaveIt::Pg->start;
my $ngx = WeaveIt::Nginx->start(pg => $pg,
    server => "location ~ ^/api/videos/(?<video_id>[^/]+)\$ {
                   weaveit_video \$video_id;
                   weaveit_video_chunk 64k;
               }
               location = /player.html { root $dir; }");
$pg->wait_schema;

my $bytes = do { local $/; open my $fh, '<:raw', $mp4 or die; <$fh> };
my ($job, $video) = $pg->store_video($bytes, title => 'Browser test');
ok $pg->video_data($video) eq $bytes, length($bytes) . ' bytes stored';

# the listeners are in place before the element exists: no event missed
open my $fh, '>', "$dir/player.html" or die;
print $fh <<"HTML";
<!DOCTYPE html>
<html><body>
<script>
window.seen = {};
for (const e of ['loadedmetadata', 'error', 'seeked', 'playing'])
    document.addEventListener(e, () => { window.seen[e] = true; }, true);
</script>
<video id="v" src="/api/videos/$job" preload="metadata" muted playsinline>
</video>
</body></html>
HTML
close $fh;
chmod 0644, "$dir/player.html";

my $url = 'http://127.0.0.1:' . $ngx->port . '/player.html';
my $profile = WeaveIt::Test::new_dir();
my $json = `timeout 120 node $root/t/browser/video-play.js $url $profile 2>&1`;
my $out = eval { decode_json($json) } // { fatal => $json };

diag explain $out if $ENV{TEST_VERBOSE};
ok !$out->{fatal}, 'the browser ran' or diag $out->{fatal};
is $out->{error}, undef, 'the video element reports no error';
cmp_ok abs(($out->{duration} // 0) - $duration), '<', 0.1,
    "loadedmetadata with the duration ($out->{duration} s)";
is "$out->{width}x$out->{height}", '640x360', 'and the frame size';

my $seek = $out->{seek} // {};
ok !$seek->{timedOut} && defined $seek->{currentTime}, 'seeked fired';
cmp_ok abs(($seek->{currentTime} // -1) - ($out->{target} // 0)), '<', 0.5,
    "currentTime is at the middle ($seek->{currentTime} s)";

my $play = $out->{play} // {};
ok !$play->{timedOut} && !$play->{rejected}, 'play() went on';
cmp_ok $play->{to} // 0, '>', ($play->{from} // 1e9) + 1,
    'currentTime advanced by more than a second while playing';

my @req = @{ $out->{requests} // [] };
ok @req, scalar(@req) . ' requests to /api/videos/';
is scalar(grep { $_->{status} != 200 && $_->{status} != 206 } @req), 0,
    'all answered 200 or 206';
ok scalar(grep { $_->{status} == 206 } @req),
    'Range requests were answered with 206';
ok scalar(grep { ($_->{range} // '') =~ /^bytes=[1-9]/ } @req),
    'the seek fetched from the middle with a Range';
note "requests: " . join ', ',
    map { "$_->{status} " . ($_->{range} // '-') } @req;

$ngx->stop;
unlike $ngx->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in error.log';

done_testing;
