#!/usr/bin/perl
# Rendering memory does not grow with the script: every frame of a
# 20,000-character script (Chinese, Arabic and emoji from fallback fonts
# among the code) peaks within a few MB of a 500-character one
# (t/unit/test_memory.c prints VmHWM after painting all frames); and the
# same for a Markdown script, parsed, its code blocks held.

use strict;
use warnings;

my $bin = ($ENV{WEAVEIT_BUILD} // 'build') . '/unit/test_memory';

print "1..8\n";

my $n = 0;

for my $format ('', 'markdown') {
    my ($short, $long) = map { [split ' ', `$bin $_ 5 $format`] } 500, 20000;
    my $what = $format || 'text';

    my $ok = @$short == 4 && @$long == 4 && $short->[0] > 0;
    print $ok ? "ok" : "not ok", " @{[++$n]} - $what: both runs report "
        . "peak memory\n";

    print $long->[1] > 500 ? "ok" : "not ok",
        " @{[++$n]} - $what: the long script lays out to $long->[1] lines\n";

    # Markdown speaks fewer words (no code): fewer frames
    print $long->[2] > ($format ? 3000 : 5000) ? "ok" : "not ok",
        " @{[++$n]} - $what: every one of its $long->[2] frames was "
        . "painted\n";

    # ASan's redzones and quarantine (make test-asan) weigh on the peak
    # more than the script does
    my $diff = ($long->[0] // 0) - ($short->[0] // 0);
    if (`ldd $bin` =~ /libasan/) {
        print "ok @{[++$n]} # skip $what: peak memory under "
            . "AddressSanitizer (+$diff kB)\n";
    } else {
        print $ok && $diff < 3 * 1024 ? "ok" : "not ok",
            " @{[++$n]} - $what: peak memory $long->[0] kB vs "
            . "$short->[0] kB (+$diff kB < 3 MB)\n";
    }
}
