# The libFuzzer harnesses of t/fuzz (built by `make test`): each replays
# its seed and regression inputs from t/fuzz/NAME/, then fuzzes for
# FUZZ_TEST_SECONDS (default 3) under AddressSanitizer and UBSan.  Any
# crash, leak, sanitizer report or broken property fails the test; `make
# fuzz` runs them for longer.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

my @fuzzers = glob 'build/fuzz/fuzz_*';
plan skip_all => 'no fuzzers in build/fuzz: run make test' unless @fuzzers;

my $seconds = $ENV{FUZZ_TEST_SECONDS} // 3;

for my $f (@fuzzers) {
    my ($name) = $f =~ /fuzz_(\w+)$/;
    my @seeds = glob "t/fuzz/$name/*";
    ok @seeds, "$name: has seed inputs in t/fuzz/$name";

    my $dir = tempdir(CLEANUP => 1);
    my $out = `$f $dir t/fuzz/$name -max_total_time=$seconds -timeout=10 -artifact_prefix=$dir/ 2>&1`;
    my $rc = $? >> 8;
    is $rc, 0, "$name: every seed and $seconds s of fuzzing pass"
        or diag join "\n", (split /\n/, $out)[-40 .. -1];
    like $out, qr/^Done \d+ runs/m, "$name: libFuzzer ran to the end";
    my ($runs) = $out =~ /^Done (\d+) runs/m;
    cmp_ok $runs // 0, '>=', scalar @seeds, "$name: ran $runs inputs";
}

done_testing;
