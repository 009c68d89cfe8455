#!/usr/bin/perl
# weaveit-render --serve as nginx spawns it: the title and script on stdin,
# the MP4 on stdout, progress on fd 3, exit 0; bad input exits 1 with one
# message and no MP4; bad options exit 2 before stdin is read.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use lib 't/unit';
use Serve qw(serve job);

my $dir = tempdir(CLEANUP => 1);
my @small = ('--size', '320x180', '--fps', '10');

open my $f, '<', 'bench/reference-script.txt' or die "reference: $!";
my $reference = do { local $/; <$f> };
close $f;

sub duration {
    my ($mp4) = @_;
    my $path = "$dir/probe.mp4";
    open my $out, '>:raw', $path or die "$path: $!";
    print $out $mp4;
    close $out;
    my %p;
    for (`ffprobe -v error -show_entries stream=codec_name:format=duration -of default=nw=1 $path`) {
        $p{codecs} .= "$1 " if /^codec_name=(\w+)/;
        $p{duration} = $1 if /^duration=([\d.]+)/;
    }
    return \%p;
}

# a whole job
my $r = serve(job('A title', $reference), @small);
is($r->{exit}, 0, 'a job exits 0') or diag $r->{stderr};
is($r->{stderr}, '', 'and says nothing on stderr');

my $p = duration($r->{stdout});
is($p->{codecs} // '', 'h264 aac ', 'stdout is an MP4 of h264 and aac');

my @pct = @{$r->{progress}};
my $said = pop @pct;
like($said, qr/^duration (\d+\.\d{3})$/, "the last line on fd 3: $said");
my $missing = pop @pct;
is($missing, 'missing 0', 'before it, the characters without a glyph');
my $voice = pop @pct;
is($voice, 'voice en', 'before it, the voice that spoke');
my ($seconds) = $said =~ /([\d.]+)/;
ok(abs($seconds - ($p->{duration} // 0)) < 0.05,
   "  the video's duration ($seconds s vs ffprobe's "
   . ($p->{duration} // '?') . ' s)');
ok(@pct >= 2 && !grep({ !/^\d+$/ } @pct), "progress lines: @pct");
ok(!grep({ $pct[$_] < $pct[$_ - 1] } 1 .. $#pct), 'progress only rises');
ok($pct[0] == 0 && $pct[-1] == 100, 'from 0 to 100');

# the title arrived: its card adds 2 s
my $untitled = serve(job('', $reference), @small);
is($untitled->{exit}, 0, 'a job without a title exits 0');
my $d = duration($untitled->{stdout})->{duration} // 0;
ok(abs(($p->{duration} // 0) - $d - 2) < 0.05,
   "the title card adds 2 s ($p->{duration} s vs $d s)");

# fallback fonts are found and opened inside the sandbox; the font may be
# a fontconfig pattern; a character no font has is counted
my $mixed = "Emoji \x{1f389} test, \x{4e2d}\x{6587}\x{5b57}\x{7b26}, and "
    . "e\x{301} combining.\n\x{645}\x{631}\x{62d}\x{628}\x{627} "
    . "\x{5e9}\x{5dc}\x{5d5}\x{5dd} \x{928}\x{92e}\x{938}\x{94d}\x{924}"
    . "\x{947} \x{d55c}\x{ad6d}\x{c5b4} \x{65e5}\x{672c}\x{8a9e}\n";
utf8::encode($mixed);
$r = serve(job("\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x8e\x89", $mixed),
           @small, '--font', 'DejaVu Sans Mono');
is($r->{exit}, 0, 'a script in seven scripts with emoji, sandboxed, '
   . 'font "DejaVu Sans Mono": exit 0') or diag $r->{stderr};
is($r->{progress}[-2], 'missing 0', '  no character without a glyph');

# with a font file fontconfig is first asked, and loads, in the sandbox
$r = serve(job('', $mixed), @small);
is($r->{exit}, 0, 'the same script with the font file: exit 0')
    or diag $r->{stderr};
is($r->{progress}[-2], 'missing 0', '  its fallback fonts found as well');

$r = serve(job('', "a \xf4\x8f\xbf\xbd b\n"), @small);
is($r->{progress}[-2], 'missing 1', 'a character no font has: missing 1');

# Markdown in the sandbox: the prose font a pattern, its bold and oblique
# faces found by fontconfig
$r = serve(job('', "# Title\n\nSome **bold** and _oblique_ prose, `code`.\n"),
           @small, '--prose-font', 'DejaVu Serif');
is($r->{exit}, 0, 'Markdown with headings, bold and emphasis, prose font '
   . '"DejaVu Serif": exit 0') or diag $r->{stderr};

# --voice auto: the voice of the script's writing system, said on fd 3
my $chinese = "\xe4\xbb\x8a\xe5\xa4\xa9\xe6\x88\x91\xe4\xbb\xac\xe5\xad\xa6"
    . "\xe4\xb9\xa0\xe8\xbf\x99\xe4\xb8\xaa\xe5\x87\xbd\xe6\x95\xb0\xe3\x80\x82\n";
$r = serve(job('', $chinese), @small, '--voice', 'auto');
is($r->{exit}, 0, '--voice auto with a Chinese script exits 0')
    or diag $r->{stderr};
is($r->{progress}[-3], 'voice cmn', '  and says it spoke with cmn');

# whitespace the script may not be made of is no title card either
my $blank = serve(job("\f\xc2\xa0 ", 'Hello.'), @small);
is($blank->{exit}, 0, 'a title of form feed and no-break space exits 0')
    or diag $blank->{stderr};
$d = duration($blank->{stdout})->{duration} // 9;
ok($d < 2, "  with no title card ($d s)");

# [name, stdin, message]: the job's own fault, exit 1
my @bad = (
    ['invalid UTF-8 script', job('', "caf\xe9 au lait\n"), qr/^script is not valid UTF-8/],
    ['blank script', job('T', " \n\t"), qr/^script is empty or only whitespace/],
    ['title over the bound', job('t' x 4097, 'Hello.'),
        qr/^title is 4097 bytes, over 4096$/],
    ['no length line', "Hello world.\n",
        qr/^stdin must begin with the title's length in bytes/],
    ['empty stdin', '', qr/^stdin must begin with/],
    ['stdin ends in the title', "10\nabc", qr/^stdin ends within the title$/],
    ['NUL in the title', job("a\0b", 'Hello.'), qr/^title contains a NUL byte$/],
    ['invalid UTF-8 title', job("caf\xe9", 'Hello.'), qr/^title is not valid UTF-8/],
    ['script over the bound', job('', 'a' x (16 * 1024 * 1024 + 1)),
        qr/^script is over 16777216 bytes$/],
);

for my $c (@bad) {
    my ($name, $input, $want) = @$c;
    $r = serve($input, @small);
    my $msg = $r->{stderr};
    chomp $msg;
    ok(defined $r->{exit} && $r->{exit} == 1 && $msg =~ $want
       && $r->{stdout} eq '', "$name: exit 1, \"$msg\", no MP4")
        or diag explain $r;
}

# [name, options, message]: no job can run, exit 2
my @usage = (
    ['crf out of range', ['--crf', '99'], qr/invalid crf 99/],
    ['missing font', ['--font', '/nonexistent.ttf'], qr/cannot use font/],
    ['missing prose font', ['--prose-font', '/nonexistent.ttf'],
        qr/cannot use font "\/nonexistent.ttf"/],
    ['unknown voice', ['--voice', 'xx-none'], qr/voice does not exist/],
    ['title as an option', ['--title', 'T'], qr/reads the title from stdin/],
    ['bad number', ['--max-cpu', '-1'], qr/bad number "-1"/],
);

for my $c (@usage) {
    my ($name, $args, $want) = @$c;
    $r = serve(job('', 'Hello.'), @small, @$args);
    my $msg = $r->{stderr};
    chomp $msg;
    ok(defined $r->{exit} && $r->{exit} == 2 && $msg =~ $want,
       "$name: exit 2, \"$msg\"") or diag explain $r;
}

my $render = ($ENV{WEAVEIT_BUILD} // 'build') . '/weaveit-render';
my $msg = `$render --max-cpu 5 in.txt out.mp4 2>&1`;
ok($? >> 8 == 2 && $msg =~ /limits of the sandbox/,
   'limits without the sandbox are refused');

done_testing;
