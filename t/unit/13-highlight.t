#!/usr/bin/perl
# Token colours in the video: weaveit-render makes a video of a Markdown
# script with a Python block, and in a frame showing it (while the
# paragraph after it is spoken) the keyword `def` is blue, the comment a
# light grey with no dark ink, and the string green; the same block marked
# with a language nobody knows shows none of these colours.  Each line of
# the block is found by its panel, read off the frame.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);
my $render = ($ENV{WEAVEIT_BUILD} // 'build') . '/weaveit-render';
my ($W, $H) = (640, 360);

# the frame at 1.2 s (the paragraph after the block), as rows of [r, g, b]
sub frame {
    my ($lang) = @_;
    my $script = "$dir/$lang.md";
    open my $f, '>', $script or die "$script: $!";
    print $f "Look at this.\n\n```$lang\ndef greet(name):\n"
           . "    # say hello\n    return \"Hello, \" + name\n```\n\n"
           . "It greets everyone by name.\n";
    close $f;

    my $cmd = "$render --size ${W}x$H --font-size 20 --crf 12 --fps 10 "
            . "$script $dir/$lang.mp4 2>&1";
    my $out = `$cmd`;
    die "weaveit-render: $out" if $?;
    $cmd = "ffmpeg -nostdin -v error -i $dir/$lang.mp4 -ss 1.2 -frames:v 1 "
         . "-f rawvideo -pix_fmt rgb24 -";
    my $rgb = `$cmd`;
    die 'ffmpeg failed' unless length $rgb == $W * $H * 3;
    return [ map { [ unpack 'C*', substr($rgb, $_ * $W * 3, $W * 3) ] }
             0 .. $H - 1 ];
}

# the rows of the code panel (a light grey, where it overhangs the text's
# margin of 80 px), split into its three lines
sub panel_lines {
    my ($rows) = @_;
    my @panel = grep {
        my ($r, $g, $b) = @{ $rows->[$_] }[3 * 70 .. 3 * 70 + 2];
        $r >= 225 && $r <= 250 && abs($g - $r) < 10 && abs($b - $r) < 12;
    } 0 .. $H - 1;
    return () unless @panel >= 30;
    my $third = int(@panel / 3);
    return map { [ @panel[$_ * $third .. ($_ + 1) * $third - 1] ] } 0 .. 2;
}

# pixels of a line that are blue, green, dark (ink of #222), and the
# darkest luma of its ink
sub census {
    my ($rows, $line) = @_;
    my %n = (blue => 0, green => 0, dark => 0);
    for my $y (@$line) {
        my $row = $rows->[$y];
        for my $x (0 .. $W - 1) {
            my ($r, $g, $b) = @$row[3 * $x .. 3 * $x + 2];
            $n{blue}++ if $b - ($r > $g ? $r : $g) > 60;
            $n{green}++ if $g - ($r > $b ? $r : $b) > 40;
            $n{dark}++ if $r < 80 && $g < 80 && $b < 80;
        }
    }
    return \%n;
}

my $py = frame('python');
my @lines = panel_lines($py);
is scalar @lines, 3, 'python: the panel of three lines is on screen';
my @c = map { census($py, $_) } @lines;
cmp_ok $c[0]{blue}, '>', 20, "def: blue pixels ($c[0]{blue})";
is $c[1]{dark}, 0, 'the comment: grey, no dark ink';
cmp_ok $c[2]{blue}, '>', 20, "return: blue pixels ($c[2]{blue})";
cmp_ok $c[2]{green}, '>', 20, "the string: green pixels ($c[2]{green})";

my $unknown = frame('klingon');
@lines = panel_lines($unknown);
is scalar @lines, 3, 'an unknown language: the panel is there';
@c = map { census($unknown, $_) } @lines;
is $c[0]{blue} + $c[2]{blue} + $c[2]{green}, 0,
    'no token colour in it';
cmp_ok $c[1]{dark}, '>', 20, 'the comment is ink like the rest';

done_testing;
