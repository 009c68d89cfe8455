#!/usr/bin/perl
# weaveit-render's speech options: --speech openai with a loopback speech
# server (t/lib/WeaveIt/Speech.pm) from a file and as the sandboxed
# generator (the token from the environment, retries as "note" lines on
# fd 3), over https trusting --speech-ca-file, the sandbox letting it
# connect and nothing more, a key file others can read refused,
# --list-voices.

use strict;
use warnings;
use File::Temp qw(tempdir);
use Test::More;
use lib 't/unit', 't/lib';
use Serve qw(serve job);
use WeaveIt::Speech;

my $render = ($ENV{WEAVEIT_BUILD} // 'build') . '/weaveit-render';
my $speech = WeaveIt::Speech->start;
my $url = $speech->url;
my $dir = tempdir(CLEANUP => 1);

sub write_file {
    my ($name, $mode, $text) = @_;
    open my $f, '>', "$dir/$name" or die "$name: $!";
    print $f $text;
    close $f;
    chmod $mode, "$dir/$name";
    return "$dir/$name";
}

my $key = write_file('key', 0600, $speech->key . "\n");
my $script = write_file('script.txt', 0644, "Hello from the server.\n");
my @server = ('--speech', 'openai', '--speech-url', $url, '--size',
              '320x180');

my $out = `$render @server --speech-key-file $key $script $dir/a.mp4 2>&1`;
is $? >> 8, 0, 'a file narrated by the server' or diag $out;
ok -s "$dir/a.mp4", '  written';
my $last = ($speech->requests)[-1] // {};
ok $last->{auth} && $last->{voice} eq 'nova' && $last->{model} eq 'tts-1-hd',
    '  with the token, nova and tts-1-hd';

$out = `$render @server --speech-key-file $key --voice shimmer --speech-model tts-1-hd $script $dir/b.mp4 2>&1`;
is(($speech->requests)[-1]{voice}, 'shimmer', '--voice names the server\'s');

my $open = write_file('open.key', 0644, $speech->key . "\n");
$out = `$render @server --speech-key-file $open $script $dir/c.mp4 2>&1`;
is $? >> 8, 2, 'a key file others can read is refused';
like $out, qr/others cannot read/, '  saying so';
unlike $out, qr/\Q${\ $speech->key }\E/, '  without showing the key';

$out = `$render --speech bogus $script $dir/d.mp4 2>&1`;
is $? >> 8, 2, '--speech takes espeak or openai';
$out = `$render --speech openai $script $dir/d.mp4 2>&1`;
like $out, qr/URL must begin with http/, '--speech openai needs a URL';

# as the generator: the token from the environment, retries on fd 3
{
    local $ENV{WEAVEIT_SPEECH_KEY} = $speech->key;
    $speech->plan('500');
    my $r = serve(job('', "Served, after one error.\n"), @server);
    is $r->{exit}, 0, '--serve with the token in WEAVEIT_SPEECH_KEY'
        or diag $r->{stderr};
    like join("\n", @{ $r->{progress} }), qr/^note speech server: piece 1 of 1: the server answered 500: The server had an error; retry 1 of 3 in 0\.5 s$/m,
        '  the retry is a note on fd 3';
    is substr($r->{stdout}, 4, 4), 'ftyp', '  and the MP4 came';

    $speech->plan('401');
    $r = serve(job('', "Refused.\n"), @server);
    is $r->{exit}, 1, 'a 401 fails the job';
    like $r->{stderr}, qr/the server answered 401: Incorrect API key provided: \*+ \(not retried\)/,
        '  with the status and the server\'s text, the key redacted';
}

# https: a self-signed server is trusted only with its certificate, read
# by the sandboxed generator
{
    my $tls = WeaveIt::Speech->start(tls => 1);
    my @https = ('--speech', 'openai', '--speech-url', $tls->url, '--size',
                 '320x180');
    local $ENV{WEAVEIT_SPEECH_KEY} = $tls->key;
    my $r = serve(job('', "Over https.\n"), @https, '--speech-ca-file',
                  $tls->ca_file);
    is $r->{exit}, 0, 'https with --speech-ca-file' or diag $r->{stderr};
    is substr($r->{stdout}, 4, 4), 'ftyp', '  the MP4 came';
    is scalar(grep { $_->{status} == 200 } $tls->requests), 1,
        '  the server answered it';

    $r = serve(job('', "Not trusted.\n"), @https);
    is $r->{exit}, 1, 'without it the self-signed server is not trusted';
    like $r->{stderr}, qr/piece 1 of 1: .*certificate.* \(not retried\)/,
        '  saying so, not retried';
    $tls->stop;
}

$out = `$render @server --sandbox-test | cat`;
like $out, qr/^socket\(AF_INET\): allowed$/m,
    'the sandbox lets a speech server\'s generator open internet sockets';
like $out, qr/^socket\(AF_UNIX\): refused/m, '  and no other';
like $out, qr/^execve\("\/bin\/false"\): refused/m, '  and still no execve';

$out = `$render --list-voices`;
is $? >> 8, 0, '--list-voices';
like $out, qr/^en-US\tEnglish \(America\)$/m, '  names and languages';
like $out, qr/^en\t/m, '  the default voice among them';

done_testing;
