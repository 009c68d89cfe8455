#!/usr/bin/perl
# Rendering memory does not grow with the script: every frame of a
# 20,000-character script (Chinese, Arabic and emoji from fallback fonts
# among the code) peaks within a few MB of a 500-character one
# (t/unit/test_memory.c prints VmHWM after painting all frames).

use strict;
use warnings;

my $bin = ($ENV{WEAVEIT_BUILD} // 'build') . '/unit/test_memory';

print "1..4\n";

my ($short, $long) = map { [split ' ', `$bin $_ 5`] } 500, 20000;

my $ok = @$short == 4 && @$long == 4 && $short->[0] > 0;
print $ok ? "ok" : "not ok", " 1 - both runs report peak memory\n";

print $long->[1] > 500 ? "ok" : "not ok",
    " 2 - the long script lays out to $long->[1] lines\n";

print $long->[2] > 5000 ? "ok" : "not ok",
    " 3 - every one of its $long->[2] frames was painted\n";

# ASan's redzones and quarantine (make test-asan) weigh on the peak more
# than the script does
my $diff = ($long->[0] // 0) - ($short->[0] // 0);
if (`ldd $bin` =~ /libasan/) {
    print "ok 4 # skip peak memory under AddressSanitizer (+$diff kB)\n";
} else {
    print $ok && $diff < 3 * 1024 ? "ok" : "not ok",
        " 4 - peak memory $long->[0] kB vs $short->[0] kB",
        " (+$diff kB < 3 MB)\n";
}
