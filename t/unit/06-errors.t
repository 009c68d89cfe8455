#!/usr/bin/perl
# Errors: bad scripts, a missing font, an unknown voice and an unwritable
# output give a clear message and a non-zero exit, leave no file behind,
# and (under valgrind, when installed) leak nothing; a good run is clean too.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);
my $render = ($ENV{WEAVEIT_BUILD} // 'build') . '/weaveit-render';
sub spew {
    my ($name, $data) = @_;
    open my $f, '>:raw', "$dir/$name" or die "$name: $!";
    print $f $data;
    close $f;
    return "$dir/$name";
}

my $good = spew('good.txt', "Hello world.\n");

# [name, arguments, expected message]
my @cases = (
    ['empty script', [spew('empty.txt', '')], qr/empty/],
    ['whitespace-only script', [spew('blank.txt', " \n\t\n  \n")],
        qr/empty or only whitespace/],
    ['invalid UTF-8', [spew('latin1.txt', "caf\xe9 au lait\n")],
        qr/not valid UTF-8/],
    ['NUL byte', [spew('nul.txt', "abc\0def\n")], qr/NUL byte/],
    ['missing font', ['--font', '/nonexistent/font.ttf', $good],
        qr{cannot use font "/nonexistent/font.ttf"}],
    ['unknown voice', ['--voice', 'xx-no-such-voice', $good],
        qr/voice does not exist/],
    ['bad size', ['--size', '7x5', $good], qr/invalid frame size/],
    ['missing script file', ["$dir/nope.txt"], qr/cannot read/],
);

# The sanitizer build (scripts/prove-asan.sh) checks itself: LeakSanitizer
# takes valgrind's place, and a leak exits 99 the same way.
my $asan = `ldd $render` =~ /libasan/;
my $valgrind = $asan || system('valgrind --version >/dev/null 2>&1') == 0;
my $vg = $asan ? ''
    : 'valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect'
    . ' --error-exitcode=99';


for my $c (@cases) {
    my ($name, $args, $want) = @$c;
    my $out = "$dir/out.mp4";
    my $cmd = join ' ', $render, map({ "'$_'" } @$args), $out;
    my $msg = `$cmd 2>&1`;
    my $rc = $? >> 8;
    chomp $msg;
    ok($rc != 0 && $msg =~ $want, "$name: exit $rc, \"$msg\"");
    ok(!-e $out, "$name: no output file left");

    if (!$valgrind || $name eq 'missing script file' || $name eq 'bad size') {
        pass("$name: # skip valgrind not needed or not installed");
        next;
    }

    `$vg $cmd >/dev/null 2>&1`;
    ok(($? >> 8) == 1, "$name: no leak under valgrind (exit " . ($? >> 8) . ")");
}

my $msg = `$render $good /nonexistent-dir/out.mp4 2>&1`;
ok($? != 0 && $msg =~ m{cannot write "/nonexistent-dir/out.mp4"},
   "unwritable output: $msg");

$msg = `$render --rate abc $good $dir/x.mp4 2>&1`;
ok($? != 0 && $msg =~ /bad number/, 'a bad number is refused');

if ($valgrind) {
    `$vg $render --size 320x180 --fps 5 --title T $good $dir/small.mp4 >/dev/null 2>&1`;
    ok(($? >> 8) == 0, 'a whole generation is valgrind clean (exit '
       . ($? >> 8) . ')');
} else {
    pass('# skip valgrind not installed');
}

ok(-s "$dir/small.mp4" || !$valgrind, 'and wrote its video');

done_testing;
