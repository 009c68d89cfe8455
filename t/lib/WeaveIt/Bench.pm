package WeaveIt::Bench;

# What the benchmarks share: running wrk and reading its numbers.

use strict;
use warnings;

use Exporter qw(import);

our @EXPORT_OK = qw(wrk);

my $MB = 1 << 20;

# wrk against $a{url} with $a{conns} connections for $a{seconds} seconds
# ($a{script}: a Lua script file).  Returns { rps, requests, mbps, p50,
# p99 (ms), errors, raw }.
sub wrk {
    my (%a) = @_;
    my $threads = $a{conns} > 1 ? 2 : 1;
    my $script = $a{script} ? "-s $a{script}" : '';
    my $out = `wrk -t$threads -c$a{conns} -d$a{seconds}s --latency --timeout 30s $script $a{url} 2>&1`;
    my %r;
    $r{rps} = $out =~ /Requests\/sec:\s+([\d.]+)/ ? $1 : 0;
    $r{requests} = $out =~ /(\d+) requests in/ ? $1 : 0;
    $r{mbps} = !($out =~ /Transfer\/sec:\s+([\d.]+)(\w+)/) ? 0
             : $2 eq 'GB' ? $1 * 1024 : $2 eq 'MB' ? $1
             : $2 eq 'KB' ? $1 / 1024 : $1 / $MB;
    for my $p (50, 99) {
        $r{"p$p"} = !($out =~ /^\s+$p%\s+([\d.]+)(us|ms|s)\b/m) ? -1
                  : $2 eq 'us' ? $1 / 1000 : $2 eq 's' ? $1 * 1000 : $1;
    }
    $r{errors} = $out =~ /Non-2xx or 3xx responses: (\d+)/ ? $1 : 0;
    if ($out =~ /Socket errors: connect (\d+), read (\d+), write (\d+), (?:timeout (\d+))?/) {
        $r{errors} += $1 + $2 + $3 + ($4 // 0);
    }
    $r{raw} = $out;
    return \%r;
}

1;
