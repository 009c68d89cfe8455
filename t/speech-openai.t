# weaveit_speech openai: videos narrated by a speech server with OpenAI's
# API (t/lib/WeaveIt/Speech.pm, real HTTP over loopback) in each format it
# may answer, over https with weaveit_speech_ca_file, its failures retried
# or reported, the voice chosen per request, GET /api/voices, and what
# nginx -t refuses.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use WeaveIt::Test;
use WeaveIt::Jobs qw(api_locations thread_pool post_job job_status wait_job
                     stored_video ffprobe_json script_words WALLET WALLET2);
use WeaveIt::Speech;

my $speech = WeaveIt::Speech->start;
my $keydir = WeaveIt::Test::new_dir();
my $keyfile = "$keydir/speech.key";

sub write_key {
    my ($path, $mode, $text) = @_;
    open my $f, '>', $path or die "$path: $!";
    print $f $text // $speech->key . "\n";
    close $f;
    chmod $mode, $path;
}
write_key($keyfile, 0600);

# nginx -t: the token file and the URL

sub conf_ok {
    my ($http) = @_;
    return WeaveIt::Nginx->test_config(main => thread_pool(),
        http => "weaveit_thread_pool weaveit; $http",
        server => 'location = /api/generate { weaveit_generate; }');
}

my $url = $speech->url;
my ($ok, $out) = conf_ok("weaveit_speech openai $url;"
                         . " weaveit_speech_key_file $keyfile;");
ok $ok, 'nginx -t takes a URL and a key file only root can read'
    or diag $out;

($ok, $out) = conf_ok("weaveit_speech openai $url;"
                      . " weaveit_speech_key_file $keydir/missing;");
ok !$ok && $out =~ /speech key file ".*missing" cannot be read/,
    'a missing key file is refused';

write_key("$keydir/open.key", 0644);
($ok, $out) = conf_ok("weaveit_speech openai $url;"
                      . " weaveit_speech_key_file $keydir/open.key;");
ok !$ok && $out =~ /others cannot read/, 'a world-readable key file is '
    . 'refused, with how to fix it';
unlike $out, qr/\Q${\ $speech->key }\E/, 'the message does not show the key';

for my $bad ('ftp://127.0.0.1/v1/audio/speech', 'http://', '127.0.0.1:80',
             'http://127.0.0.1:99999/v1') {
    ($ok, $out) = conf_ok("weaveit_speech openai $bad;");
    ok !$ok && $out =~ /URL|speech/, "a malformed URL is refused: $bad";
}

($ok, $out) = conf_ok("weaveit_speech openai $url;"
                      . ' weaveit_speech_format pcm;');
ok !$ok && $out =~ /is not wav, mp3, opus, flac or aac/,
    'headerless pcm is refused';

# videos narrated by the server

my $pg = WeaveIt::Pg->start;

sub start_nginx {
    my ($http, $server) = @_;
    return WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
        http => 'weaveit_thread_pool weaveit; weaveit_job_interval 200ms;'
              . 'weaveit_signup_points 20; weaveit_generate_cost 1;'
              . 'weaveit_video_size 640x360; weaveit_max_jobs 2;'
              . 'weaveit_speech openai ' . ($server // $speech)->url . ';'
              . "weaveit_speech_key_file $keyfile; $http",
        server => api_locations()
              . 'location = /api/voices { weaveit_voices_list; }');
}

# the stored video's audio: seconds after the 2 s title card
sub narration_seconds {
    my ($job_id) = @_;
    my $file = stored_video($pg, $job_id, WeaveIt::Test::new_dir() . '/v.mp4');
    my ($audio) = grep { $_->{codec_type} eq 'audio' }
                  @{ ffprobe_json($file)->{streams} // [] };
    return ($audio->{duration} // 2) - 2;
}

sub points {
    my ($ngx, $wallet) = @_;
    my $r = $ngx->get("/api/users/$wallet/points");
    return (eval { decode_json($r->{body}) } // {})->{points};
}

my $ngx = start_nginx('');
$pg->wait_schema;

# about 700 characters: two pieces
my $script = script_words(120);
my $r = post_job($ngx, script => $script, title => 'Server voice');
is $r->{status}, 202, 'a job is accepted';
my ($seen, $st) = wait_job($ngx, $r->{json}{jobId}, 180);
is $st->{status}, 'completed', 'the job completes through the server'
    or diag $ngx->error_log;
is $st->{voice}, 'nova', 'the status names the voice: nova by default';

my @req = $speech->requests;
cmp_ok scalar @req, '>=', 2, 'the script went in pieces: ' . scalar @req;
ok !(grep { !$_->{auth} } @req), 'every request carried the bearer token';
ok !(grep { $_->{model} ne 'tts-1-hd' || $_->{voice} ne 'nova'
            || $_->{format} ne 'wav' } @req),
    'model tts-1-hd, voice nova, response_format wav';
ok !(grep { length $_->{input} > 4096 } @req), 'no piece over 4096 chars';
# answered in any order: put back in the script's
my $words = join ' ', split ' ', $script;
my @inputs = sort { index($words, $a) <=> index($words, $b) }
             map { join ' ', split ' ', $_->{input} } @req;
is join(' ', @inputs), $words, 'the pieces are the script';

my $narration = narration_seconds($r->{json}{jobId});
my $served = $speech->served_seconds;
ok abs($narration - $served) <= 1 / 30,
    sprintf('the audio is the server\'s: %.3f s after the title card, '
            . '%.3f s served', $narration, $served);

# 500, then 429 with Retry-After: 1: retried, and the video made

$speech->plan('500', '429');
my $before = $speech->requests;
$r = post_job($ngx, script => $script);
($seen, $st) = wait_job($ngx, $r->{json}{jobId}, 180);
is $st->{status}, 'completed', 'a job whose pieces got 500 and 429 '
    . 'completes';
my @retried = grep { $_->{status} != 200 } ($speech->requests)[$before .. $#{[ $speech->requests ]}];
is scalar @retried, 2, 'two answers were errors';
like $ngx->error_log, qr/job \Q$r->{json}{jobId}\E: speech server: piece \d of \d: the server answered 500: The server had an error; retry 1 of 3 in 0\.5 s/,
    'the 500 and its retry are logged';
like $ngx->error_log, qr/job \Q$r->{json}{jobId}\E: speech server: piece \d of \d: the server answered 429: Rate limit reached; retry 1 of 3 in 1\.0 s/,
    'the 429 is retried after its Retry-After';

# 401: failed at once, refunded, the key nowhere

my $p0 = points($ngx, WALLET2);
$speech->plan('401');
$before = $speech->requests;
$r = post_job($ngx, script => 'A short narration.', wallet => WALLET2);
($seen, $st) = wait_job($ngx, $r->{json}{jobId}, 180);
is $st->{status}, 'failed', 'a 401 fails the job';
is $st->{error}, 'Generation failed', 'the client gets the generic message';
is points($ngx, WALLET2), $p0 // 20, 'its point is refunded';
my @after = $speech->requests;
is scalar(@after) - $before, 1, 'a 401 is not retried';
like $ngx->error_log, qr/job \Q$r->{json}{jobId}\E failed: speech server: piece 1 of 1: the server answered 401: Incorrect API key provided: \*+ \(not retried\)/,
    'the log says why: status, the server\'s text, no key';
my $key = $speech->key;
unlike $ngx->error_log, qr/\Q$key\E/, 'the key is in no log line';
unlike join('', map { $ngx->get("/api/videos/status/$_")->{body} }
                $r->{json}{jobId}), qr/\Q$key\E/,
    'nor in a status answer';

# the voice of a request

$r = post_job($ngx, script => 'Shimmer reads this.', voice => 'shimmer');
is $r->{status}, 202, 'an allowed voice is accepted';
($seen, $st) = wait_job($ngx, $r->{json}{jobId}, 180);
is $st->{status}, 'completed', 'and its job completes';
is $st->{voice}, 'shimmer', 'the status names it';
is(($speech->requests)[-1]{voice}, 'shimmer', 'the server was asked for it');

for my $voice ('robot', '', 7, 'nova"', 'auto') {
    $r = post_job($ngx, script => 'No.', voice => $voice);
    is $r->{status}, 400, "voice " . encode_json([$voice]) . ': 400';
    like $r->{json}{error} // '', qr/^voice /, 'the error names the field';
}

$r = $ngx->get('/api/voices');
my $v = eval { decode_json($r->{body}) } // {};
is $r->{status}, 200, 'GET /api/voices';
is $v->{backend}, 'openai', 'backend openai';
is $v->{default}, 'nova', 'default nova';
is join(' ', map { $_->{name} } @{ $v->{voices} // [] }),
    'alloy ash coral echo fable nova onyx sage shimmer', 'OpenAI\'s voices';
$ngx->stop;

# a server that stalls: each try times out, three retries, then failure

$ngx = start_nginx('weaveit_speech_timeout 2s;'
                   . ' weaveit_voices af_bella nova auto;');
$r = $ngx->get('/api/voices');
$v = eval { decode_json($r->{body}) } // {};
is join(' ', map { $_->{name} } @{ $v->{voices} // [] }),
    'af_bella nova auto', 'weaveit_voices names the server\'s voices';
$r = post_job($ngx, script => 'Hello there.', voice => 'alloy');
is $r->{status}, 400, 'a voice it does not list: 400';

# "auto", when listed, is the server's default voice: its models speak
# every language
$r = post_job($ngx, voice => 'auto',
              script => "\x{4eca}\x{5929}\x{6211}\x{4eec}\x{5b66}"
                        . "\x{4e60}\x{3002}");
is $r->{status}, 202, 'voice auto, listed, with a speech server: 202';
($seen, $st) = wait_job($ngx, $r->{json}{jobId}, 180);
is $st->{status}, 'completed', '  and its job completes';
is(($speech->requests)[-1]{voice}, 'nova', '  the server was asked for nova');
is $st->{voice}, 'nova', '  the status names the voice that spoke';

$speech->plan(('stall') x 4);
$before = $speech->requests;
my $t0 = time;
$r = post_job($ngx, script => 'Nobody answers this.', wallet => WALLET2);
($seen, $st) = wait_job($ngx, $r->{json}{jobId}, 180);
my $took = time - $t0;
is $st->{status}, 'failed', 'a server that never answers fails the job';
is scalar($speech->requests) - $before, 4, 'after three retries';
cmp_ok $took, '>=', 4 * 2 + 0.5 + 1 + 2 - 0.5, 'each try waited for its '
    . "timeout and the backoff ($took s)";
cmp_ok $took, '<', 120, 'within the bound';
like $ngx->error_log, qr/failed: speech server: piece 1 of 1: no answer within 2 s \(weaveit_speech_timeout\) \(after 3 retries\)/,
    'the log says it timed out';
$ngx->stop;

# weaveit_speech_format: the server answers mp3, flac, opus or aac, decoded
# to the same speech as its wav within a frame; ADTS aac tells no encoder
# delay, so up to two frames of 1024 samples of padding a piece remain

for my $format (qw(mp3 flac opus aac)) {
    my $server = WeaveIt::Speech->start(format => $format);
    $ngx = start_nginx("weaveit_speech_format $format;", $server);
    $r = post_job($ngx, script => $script, title => "\u$format");
    ($seen, $st) = wait_job($ngx, $r->{json}{jobId}, 180);
    is $st->{status}, 'completed', "$format: the job completes"
        or diag $ngx->error_log;
    my @asked = $server->requests;
    ok @asked && !(grep { $_->{format} ne $format || $_->{status} != 200 }
                   @asked),
        "$format: every piece was asked for as $format and answered";
    $narration = narration_seconds($r->{json}{jobId});
    $served = $server->served_seconds;
    my $padding = $format eq 'aac'
                  ? 2 * 1024 / (($asked[0] // {})->{rate} || 1) * @asked : 0;
    ok $narration >= $served - 1 / 30
       && $narration <= $served + $padding + 1 / 30,
        sprintf('%s: the audio is the server\'s: %.3f s after the title '
                . 'card, %.3f s served', $format, $narration, $served);
    $ngx->stop;
    $server->stop;
}

# https: a self-hosted server with a self-signed certificate, trusted
# through weaveit_speech_ca_file

my $tls = WeaveIt::Speech->start(tls => 1);
($ok, $out) = conf_ok('weaveit_speech openai ' . $tls->url . ';'
                      . " weaveit_speech_ca_file $keydir/missing.pem;");
ok !$ok && $out =~ /weaveit_speech_ca_file" ".*missing\.pem" cannot be read/,
    'nginx -t refuses a CA file that is not there';
$ngx = start_nginx('weaveit_speech_ca_file ' . $tls->ca_file . ';', $tls);
$r = post_job($ngx, script => 'Spoken over https.');
($seen, $st) = wait_job($ngx, $r->{json}{jobId}, 180);
is $st->{status}, 'completed', 'https: the job completes'
    or diag $ngx->error_log;
is scalar(grep { $_->{status} == 200 } $tls->requests), 1,
    'https: the server answered its piece';
$ngx->stop;
$tls->stop;

# espeak-ng's voices

$ngx = WeaveIt::Nginx->start(pg => $pg, main => thread_pool(),
    http => 'weaveit_thread_pool weaveit; weaveit_video_size 640x360;',
    server => api_locations()
              . 'location = /api/voices { weaveit_voices_list; }');
$r = $ngx->get('/api/voices');
$v = eval { decode_json($r->{body}) } // {};
is $v->{backend}, 'espeak', 'GET /api/voices with espeak-ng';
is $v->{default}, 'en', 'default en';
my %lang = map { $_->{name} => $_->{language} } @{ $v->{voices} // [] };
cmp_ok scalar keys %lang, '>', 50, 'every installed voice is offered';
is $lang{'en-US'}, 'English (America)', 'with its language';
$r = post_job($ngx, script => 'Bonjour.', voice => 'fr');
is $r->{status}, 202, 'an installed voice is accepted';
($seen, $st) = wait_job($ngx, $r->{json}{jobId}, 180);
is $st->{status}, 'completed', 'and narrates';
is $st->{voice}, 'fr', 'the status names it';
is post_job($ngx, script => 'No.', voice => 'nova')->{status}, 400,
    'a server voice is no espeak-ng voice';

# "auto": the voice of the script's writing system, resolved by the
# sandboxed generator
ok exists $lang{auto} && !defined $lang{auto}, 'auto is offered';
$r = post_job($ngx, script => "\x{4eca}\x{5929}\x{6211}\x{4eec}\x{5b66}\x{4e60}"
              . "\x{8fd9}\x{4e2a}\x{51fd}\x{6570}\x{3002}", voice => 'auto');
is $r->{status}, 202, 'voice auto with a Chinese script: 202';
($seen, $st) = wait_job($ngx, $r->{json}{jobId}, 180);
is $st->{status}, 'completed', '  and narrates';
is $st->{voice}, 'cmn', '  the status names the voice that spoke: cmn';

done_testing;
