package WeaveIt::Speech;

# A speech server with OpenAI's API on a free loopback port, for the tests
# of `weaveit_speech openai`: real HTTP, core Perl only.
#
# POST /v1/audio/speech {"model","input","voice","response_format"} with
# "Authorization: Bearer KEY" answers a WAV that the espeak-ng command
# synthesises at another voice and rate than the module's own path, so its
# audio can be told apart.  It checks the token (401, quoting the token
# it got, as OpenAI does), the model, the voice, the input (400) and the
# format (only "wav").  Every request is logged, one JSON object a line:
# { auth, model, voice, input, status, samples, rate }.
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

my @servers;

# only the process that started them: a test's forked children exit too
END { $_->stop for grep { $_->{owner} == $$ } @servers }

# start(key => TOKEN, model => NAME, voices => [...], latency_ms => N)
sub start {
    my ($class, %a) = @_;
    my $dir = tempdir('weaveit-speech-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $self = bless {
        dir => $dir, key => $a{key} // 'sk-test-0123456789abcdef',
        model => $a{model} // 'tts-1-hd', voices => $a{voices} // VOICES,
        latency => ($a{latency_ms} // 0) / 1000,
        log => "$dir/requests.log", plan => "$dir/plan", owner => $$,
    }, $class;
    $self->plan();

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
sub url { "http://127.0.0.1:$_[0]{port}/v1/audio/speech" }

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
            eval { $self->_answer($c) };
            _exit(0);
        }
        close $c;
    }
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
    } elsif (($req->{response_format} // '') ne 'wav') {
        $status = _error($c, 400, 'only wav here');
    } elsif (!length($req->{input} // '') || length $req->{input} > 4096) {
        $status = _error($c, 400, 'input must be 1 to 4096 characters');
    } else {
        my ($wav, $samples, $rate) = $self->_synthesise($req->{input});
        _send($c, 200, 'audio/wav', $wav);
        @entry{qw(samples rate)} = ($samples, $rate);
        $status = 200;
    }
    $self->_log(%entry, status => $status, plan => $plan);
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
