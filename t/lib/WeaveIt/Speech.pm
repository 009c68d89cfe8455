package WeaveIt::Speech;

# A speech server with OpenAI's API on a free loopback port, for the tests
# of `weaveit_speech openai`: real HTTP, core Perl only.
#
# POST /v1/audio/speech {"model","input","voice","response_format"} with
# "Authorization: Bearer KEY" answers audio that the espeak-ng command
# synthesises at another voice and rate than the module's own path, so its
# audio can be told apart; a format other than wav is that WAV encoded by
# the ffmpeg command.  It checks the token (401, quoting the token it got,
# as OpenAI does), the model, the voice, the input and the format (400:
# only the one it was started with).  Every request is logged, one JSON
# object a line: { auth, model, voice, input, format, status, samples,
# rate }, samples and rate those of the speech before its encoding.
#
# With tls => 1 it answers https with a self-signed certificate for
# 127.0.0.1 the openssl command makes; ca_file names it.
#
# A plan makes it misbehave: the answers of the next requests, one each,
# "500", "429" (with Retry-After: 1), "401", "stall" (no answer for a
# minute), "junk" (200 with bytes that are no audio); then it answers
# normally again.  latency_ms delays every answer.

use strict;
use warnings;

use Fcntl qw(:flock SEEK_SET);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(_exit WNOHANG);
use Time::HiRes qw(sleep);

use constant VOICES => [qw(alloy ash coral echo fable nova onyx sage shimmer)];

# what the ffmpeg command writes for a response_format, and its type
my %ENCODING = (
    mp3  => [[qw(-f mp3)], 'audio/mpeg'],
    opus => [[qw(-f ogg -c:a libopus)], 'audio/ogg'],
    flac => [[qw(-f flac)], 'audio/flac'],
    aac  => [[qw(-f adts)], 'audio/aac'],
);

my @servers;

# only the process that started them: a test's forked children exit too
END { $_->stop for grep { $_->{owner} == $$ } @servers }

# start(key => TOKEN, model => NAME, voices => [...], latency_ms => N,
#       format => wav|mp3|opus|flac|aac, tls => 1)
sub start {
    my ($class, %a) = @_;
    my $dir = tempdir('weaveit-speech-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $self = bless {
        dir => $dir, key => $a{key} // 'sk-test-0123456789abcdef',
        model => $a{model} // 'tts-1-hd', voices => $a{voices} // VOICES,
        latency => ($a{latency_ms} // 0) / 1000,
        format => $a{format} // 'wav', tls => $a{tls},
        log => "$dir/requests.log", plan => "$dir/plan", owner => $$,
    }, $class;
    $self->plan();
    $self->_certificate if $self->{tls};

    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => 0, Listen => 64, ReuseAddr => 1, Proto => 'tcp')
        or die "speech server: listen: $!";
    $self->{port} = $listen->sockport;

    my $pid = fork // die "speech server: fork: $!";
    if ($pid == 0) {
        $SIG{CHLD} = 'IGNORE';
        $self->_serve($listen);
        _exit(0);
    }
    close $listen;
    $self->{pid} = $pid;
    push @servers, $self;
    return $self;
}

sub port { $_[0]{port} }
sub key { $_[0]{key} }
sub url {
    my ($self) = @_;
    return ($self->{tls} ? 'https' : 'http')
        . "://127.0.0.1:$self->{port}/v1/audio/speech";
}
sub ca_file { "$_[0]{dir}/cert.pem" }

sub _certificate {
    my ($self) = @_;
    open my $quiet, '>&', \*STDERR or die "dup: $!";
    open STDERR, '>', '/dev/null' or die "/dev/null: $!";
    my $rc = system('openssl', 'req', '-x509', '-newkey', 'rsa:2048',
                    '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1',
                    '-keyout', "$self->{dir}/key.pem",
                    '-out', $self->ca_file);
    open STDERR, '>&', $quiet or die "dup: $!";
    $rc == 0 or die "speech server: openssl req failed";
    # the generator's sandbox reads it as nginx's workers' user
    chmod 0755, $self->{dir};
    chmod 0644, $self->ca_file;
}

# The answers of the next requests, in order.
sub plan {
    my ($self, @answers) = @_;
    open my $f, '>', $self->{plan} or die "plan: $!";
    print $f map { "$_\n" } @answers;
    close $f;
}

# Every request so far, oldest first.
sub requests {
    my ($self) = @_;
    open my $f, '<', $self->{log} or return ();
    return map { decode_json($_) } <$f>;
}

# Seconds of audio the server answered with 200.
sub served_seconds {
    my ($self) = @_;
    my $s = 0;
    $s += $_->{samples} / $_->{rate}
        for grep { $_->{status} == 200 && $_->{rate} } $self->requests;
    return $s;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    local $?;    # an END block's waitpid() must not change the exit code
    kill 'TERM', -$self->{pid};
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub _serve {
    my ($self, $listen) = @_;
    setpgrp(0, 0);
    while (1) {
        my $c = $listen->accept or next;
        my $pid = fork;
        if (defined $pid && $pid == 0) {
            close $listen;
            my $s = $self->_secure($c);
            eval { $self->_answer($s) } if $s;
            _exit(0);
        }
        close $c;
    }
}

sub _secure {
    my ($self, $c) = @_;
    return $c unless $self->{tls};
    require IO::Socket::SSL;
    return IO::Socket::SSL->start_SSL($c, SSL_server => 1,
        SSL_cert_file => $self->ca_file,
        SSL_key_file => "$self->{dir}/key.pem");
}

sub _next_planned {
    my ($self) = @_;
    open my $f, '+<', $self->{plan} or return '';
    flock $f, LOCK_EX;
    my @lines = <$f>;
    my $next = shift(@lines) // '';
    seek $f, 0, SEEK_SET;
    truncate $f, 0;
    print $f @lines;
    close $f;
    chomp $next;
    return $next;
}

sub _log {
    my ($self, %entry) = @_;
    open my $f, '>>', $self->{log} or die "log: $!";
    flock $f, LOCK_EX;
    print $f encode_json(\%entry), "\n";
    close $f;
}

sub _read_request {
    my ($c) = @_;
    local $/ = "\r\n";
    my $line = <$c> // return;
    my %h;
    while (my $l = <$c>) {
        last if $l eq "\r\n";
        $l =~ s/\r\n$//;
        my ($k, $v) = split /:\s*/, $l, 2;
        $h{lc $k} = $v;
    }
    my $body = '';
    my $len = $h{'content-length'} // 0;
    while (length $body < $len) {
        my $n = read $c, $body, $len - length $body, length $body;
        last unless $n;
    }
    return ($line, \%h, $body);
}

sub _send {
    my ($c, $status, $type, $body, @extra) = @_;
    my %reason = (200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
                  429 => 'Too Many Requests', 500 => 'Internal Server Error');
    print $c "HTTP/1.1 $status ", $reason{$status} // 'Error', "\r\n",
        "Content-Type: $type\r\n", "Content-Length: ", length($body), "\r\n",
        (map { "$_\r\n" } @extra), "Connection: close\r\n\r\n", $body;
}

sub _error {
    my ($c, $status, $message, @extra) = @_;
    _send($c, $status, 'application/json',
          encode_json({ error => { message => $message,
                                   type => 'invalid_request_error' } }),
          @extra);
    return $status;
}

sub _answer {
    my ($self, $c) = @_;
    binmode $c;
    my ($line, $h, $body) = _read_request($c);
    return unless defined $line;
    my $req = eval { decode_json($body) } // {};
    my ($token) = ($h->{authorization} // '') =~ /^Bearer (.*)$/;
    my %entry = (auth => (defined $token && $token eq $self->{key}) ? 1 : 0,
                 model => $req->{model}, voice => $req->{voice},
                 input => $req->{input}, format => $req->{response_format},
                 samples => 0, rate => 0);
    sleep $self->{latency} if $self->{latency};

    my $plan = $self->_next_planned;
    my $status;
    if ($plan eq '500') {
        $status = _error($c, 500, 'The server had an error');
    } elsif ($plan eq '429') {
        $status = _error($c, 429, 'Rate limit reached', 'Retry-After: 1');
    } elsif ($plan eq '401' || !$entry{auth}) {
        $status = _error($c, 401, 'Incorrect API key provided: '
                                  . ($token // '(none)'));
    } elsif ($plan eq 'stall') {
        $self->_log(%entry, status => 0);
        sleep 60;
        return;
    } elsif ($plan eq 'junk') {
        _send($c, 200, 'audio/wav', 'these bytes are not audio' x 10);
        $status = 200;
    } elsif ($line !~ m{^POST /v1/audio/speech HTTP/1\.[01]\r\n$}) {
        $status = _error($c, 400, "unknown request $line");
    } elsif (($req->{model} // '') ne $self->{model}) {
        $status = _error($c, 400, 'unknown model');
    } elsif (!grep { $_ eq ($req->{voice} // '') } @{ $self->{voices} }) {
        $status = _error($c, 400, 'unknown voice');
    } elsif (($req->{response_format} // '') ne $self->{format}) {
        $status = _error($c, 400, "only $self->{format} here");
    } elsif (!length($req->{input} // '') || length $req->{input} > 4096) {
        $status = _error($c, 400, 'input must be 1 to 4096 characters');
    } else {
        my ($wav, $samples, $rate) = $self->_synthesise($req->{input});
        _send($c, 200, $self->_encode($wav));
        @entry{qw(samples rate)} = ($samples, $rate);
        $status = 200;
    }
    $self->_log(%entry, status => $status, plan => $plan);
}

# the WAV in the server's format, and its Content-Type
sub _encode {
    my ($self, $wav) = @_;
    my $how = $ENCODING{ $self->{format} } or return ('audio/wav', $wav);
    my $file = "$self->{dir}/$$.wav";
    open my $f, '>:raw', $file or die "$file: $!";
    print $f $wav;
    close $f;
    my $out = "$self->{dir}/$$.$self->{format}";
    # the server ignores SIGCHLD: system() would lose ffmpeg's status
    local $SIG{CHLD} = 'DEFAULT';
    system('ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-i', $file,
           @{ $how->[0] }, $out) == 0 or die "ffmpeg: $self->{format} failed";
    open $f, '<:raw', $out or die "$out: $!";
    my $audio = do { local $/; <$f> };
    close $f;
    unlink $file, $out;
    return ($how->[1], $audio);
}

# espeak-ng at a female variant and 200 words a minute, not the module's
# "en" at 175; returns the WAV, its samples and its rate.
sub _synthesise {
    my ($self, $input) = @_;
    my $file = "$self->{dir}/$$.wav";
    open my $p, '|-', 'espeak-ng', '-v', 'en-us+f3', '-s', '200', '--stdin', '-w', $file
        or die "espeak-ng: $!";
    binmode $p, ':utf8';
    print $p $input;
    close $p;
    open my $f, '<:raw', $file or die "$file: $!";
    my $wav = do { local $/; <$f> };
    close $f;
    unlink $file;
    my $rate = unpack 'V', substr($wav, 24, 4);
    my $pos = 12;
    while ($pos + 8 <= length $wav) {
        my ($id, $size) = unpack 'A4 V', substr($wav, $pos, 8);
        if ($id eq 'data') {
            $size = length($wav) - $pos - 8 if $pos + 8 + $size > length $wav;
            return ($wav, $size / 2, $rate);
        }
        $pos += 8 + $size;
    }
    die "espeak-ng wrote no data chunk";
}

1;
