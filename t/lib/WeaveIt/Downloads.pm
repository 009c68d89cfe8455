package WeaveIt::Downloads;

# Slow downloads of one stored video with random Range headers, kept going
# while a test does something else to nginx (a reload, a stop): each
# client reads at most $a{read} bytes per step through a small receive
# buffer, so a download lasts across several steps, and every response is
# checked against the stored bytes when it ends.
#
#   my $dl = WeaveIt::Downloads->new(port => $port, path => $path,
#                                     data => $bytes, clients => 50);
#   $dl->step while ...;            # keeps 50 downloads open
#   $dl->{tag} = 2;                 # marks the downloads opened from now
#   $dl->finish(60);                # opens no more, waits for the rest
#   $dl->{intact}, $dl->{broken}    # counts, and a sample of what broke

use strict;
use warnings;

use IO::Select;
use Time::HiRes qw(time sleep);
use WeaveIt::Test qw(open_client parse_response);

sub new {
    my ($class, %a) = @_;
    return bless { clients => 50, read => 16384, rcvbuf => 16384,
                   pause => 0.02, tag => 0, %a, open => {}, sel => IO::Select->new,
                   opening => 1, started => 0, intact => 0, broken => 0,
                   refused => 0, problems => [] }, $class;
}

# A whole video, a suffix, or a span of up to 2 MB from anywhere.
sub _random_range {
    my ($self) = @_;
    my $size = length $self->{data};
    my $kind = int rand 8;
    return (undef, 0, $size - 1) if $kind == 0;
    if ($kind == 1) {
        my $n = 1 + int rand(1 << 20);
        return ("bytes=-$n", $size - $n, $size - 1);
    }
    my $from = int rand $size;
    my $to = $from + int rand(2 << 20);
    $to = $size - 1 if $to >= $size;
    return ("bytes=$from-$to", $from, $to);
}

sub _open_one {
    my ($self) = @_;
    my ($range, $from, $to) = $self->_random_range;
    my $s = open_client(port => $self->{port}, path => $self->{path},
                        rcvbuf => $self->{rcvbuf},
                        headers => { Connection => 'close',
                                     $range ? (Range => $range) : () });
    $s->blocking(0);
    $self->{open}{fileno $s} = { sock => $s, raw => '', range => $range,
                                 from => $from, to => $to,
                                 tag => $self->{tag} };
    $self->{sel}->add($s);
    $self->{started}++;
}

# One step: opens downloads up to the number of clients (while opening),
# reads a little from each that has something, checks those that ended.
sub step {
    my ($self) = @_;
    my $t0 = time;
    $self->_open_one
        while $self->{opening} && keys %{ $self->{open} } < $self->{clients};
    for my $s ($self->{sel}->can_read($self->{pause})) {
        my $d = $self->{open}{fileno $s};
        my $n = sysread $s, $d->{raw}, $self->{read}, length $d->{raw};
        next if !defined $n && $!{EAGAIN};
        next if $n;
        $self->{sel}->remove($s);
        delete $self->{open}{fileno $s};
        close $s;
        $self->_check($d);
    }
    my $left = $self->{pause} - (time - $t0);
    sleep $left if $left > 0;
}

sub _check {
    my ($self, $d) = @_;
    my $what = ($d->{range} // 'no Range') . ':';
    my $size = length $self->{data};
    my $len = $d->{to} - $d->{from} + 1;
    if ($d->{raw} eq '') {
        # closed before a byte of any answer: never started
        $self->{refused}++;
        return;
    }
    my $r = parse_response($d->{raw}, 'GET');
    my $want = $d->{range} ? 206 : 200;
    my $problem =
          $r->{status} != $want ? "status $r->{status}"
        : ($r->{headers}{'content-length'} // -1) != $len
            ? "Content-Length $r->{headers}{'content-length'}"
        : $d->{range} && ($r->{headers}{'content-range'} // '')
                         ne "bytes $d->{from}-$d->{to}/$size"
            ? "Content-Range $r->{headers}{'content-range'}"
        : length $r->{body} != $len
            ? 'cut at ' . length($r->{body}) . " of $len bytes"
        : $r->{body} ne substr($self->{data}, $d->{from}, $len)
            ? 'wrong bytes' : undef;
    if (defined $problem) {
        $self->{broken}++;
        push @{ $self->{problems} }, "$what $problem"
            if @{ $self->{problems} } < 10;
        return;
    }
    $self->{intact}++;
}

# Opens no more downloads and reads the open ones to their end; returns
# whether they all ended within $timeout seconds.
sub finish {
    my ($self, $timeout) = @_;
    $self->{opening} = 0;
    my $end = time + $timeout;
    $self->step while %{ $self->{open} } && time < $end;
    return !%{ $self->{open} };
}

sub in_flight { scalar keys %{ $_[0]->{open} } }

# How many open downloads have received some of their answer; only those
# opened while $self->{tag} was $tag, if given.
sub answering {
    my ($self, $tag) = @_;
    return scalar grep { length $_->{raw}
                         && (!defined $tag || $_->{tag} eq $tag) }
                  values %{ $self->{open} };
}

# The http block of a fault test that generates while slow clients
# download: jobs every 200 ms, small videos, points for 100 jobs a wallet
# and 20 pending, and a second server on $port whose small send buffer
# keeps each download going for several steps.
sub busy_http {
    my ($port) = @_;
    return "weaveit_job_interval 200ms; weaveit_video_size 320x180;
            weaveit_signup_points 100; weaveit_generate_cost 1;
            weaveit_max_pending_per_wallet 20;
            server {
                listen 127.0.0.1:$port sndbuf=32k;
                location ~ ^/api/videos/(?<video_id>[^/]+)\$ {
                    weaveit_video \$video_id;
                    weaveit_video_chunk 64k;
                }
            }";
}

1;
