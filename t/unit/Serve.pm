package Serve;

# Runs weaveit-render --serve the way the nginx module does: the job on
# stdin, the MP4 on a pipe at stdout, errors on a pipe at stderr, progress
# on a pipe at fd 3, and a deadline after which the child is killed.

use strict;
use warnings;
use Exporter 'import';
use Fcntl qw(F_SETFD);
use File::Temp qw(tempfile);
use IO::Select;
use POSIX qw(dup2 _exit);
use Time::HiRes qw(time);

our @EXPORT_OK = qw(serve job);

my $render = ($ENV{WEAVEIT_BUILD} // 'build') . '/weaveit-render';

# the stdin of one job: the title's length, a newline, title, script
sub job {
    my ($title, $script) = @_;
    return length($title) . "\n" . $title . $script;
}

# serve($stdin, @options), with timeout => N among the options (default 30 s):
# { exit, signal, timeout, stdout, stderr, progress => [N...], seconds }
sub serve {
    my ($input, @args) = @_;
    my $timeout = 30;
    for my $i (reverse 0 .. $#args - 1) {
        (undef, $timeout) = splice @args, $i, 2 if $args[$i] eq 'timeout';
    }

    my ($in, $path) = tempfile(UNLINK => 1);
    binmode $in;
    print $in $input;
    close $in;

    my %r = (stdout => '', stderr => '', progress => '', timeout => 0);
    my (%fd, %w);
    for my $name (qw(stdout stderr progress)) {
        pipe($fd{$name}, $w{$name}) or die "pipe: $!";
    }

    my $start = time;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDIN, '<', $path or _exit(127);
        dup2(fileno $w{stdout}, 1);
        dup2(fileno $w{stderr}, 2);
        dup2(fileno $w{progress}, 3);
        # fd 3 may have been the pipe itself, still close-on-exec
        open my $three, '>&=', 3 or _exit(127);
        fcntl($three, F_SETFD, 0);
        exec { $render } $render, '--serve', @args or _exit(127);
    }

    close $_ for values %w;
    my $sel = IO::Select->new(values %fd);
    my %name = map { fileno($fd{$_}) => $_ } keys %fd;

    while ($sel->count) {
        my $left = $start + $timeout - time;
        if ($left <= 0) {
            kill 'KILL', $pid;
            $r{timeout} = 1;
            last;
        }
        for my $fh ($sel->can_read($left)) {
            my $n = sysread $fh, my $buf, 65536;
            if (!$n) {
                $sel->remove($fh);
                next;
            }
            $r{$name{fileno $fh}} .= $buf;
        }
    }

    waitpid $pid, 0;
    $r{seconds} = time - $start;
    $r{signal} = $? & 127;
    $r{exit} = $r{signal} ? undef : $? >> 8;
    $r{progress} = [split /\n/, $r{progress}];

    return \%r;
}

1;
