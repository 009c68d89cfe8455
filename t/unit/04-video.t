#!/usr/bin/perl
# weaveit-render produces a browser-ready MP4: h264 yuv420p 1280x720 30 fps
# + aac, moov before mdat, duration equal to the speech's within a frame,
# decodes without an error; --title adds a centred 2 s title card.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);
my $render = ($ENV{WEAVEIT_BUILD} // 'build') . '/weaveit-render';
sub spew {
    my ($path, $data) = @_;
    open my $f, '>', $path or die "$path: $!";
    print $f $data;
    close $f;
}

sub probe {
    my ($file) = @_;
    my (%p, %s);
    for (`ffprobe -v error -show_entries stream=codec_type,codec_name,pix_fmt,width,height,r_frame_rate,duration:format=duration -of default=nw=0 $file`) {
        chomp;
        if (m{^\[/STREAM\]}) {
            my $type = delete $s{codec_type} // 'unknown';
            $p{"$type.$_"} = $s{$_} for keys %s;
            %s = ();
        } elsif (/^(\w+)=(.*)$/) {
            $s{$1} = $2;
        }
    }
    $p{'format.duration'} = $s{duration};
    return \%p;
}

# top-level MP4 box types in file order
sub boxes {
    my ($file) = @_;
    open my $f, '<:raw', $file or return ();
    my ($pos, @types) = (0);
    my $size = -s $file;
    while ($pos + 8 <= $size) {
        seek $f, $pos, 0;
        read $f, my $h, 16;
        my ($len, $type) = unpack 'N a4', $h;
        $len = unpack 'x8 Q>', $h if $len == 1;
        $len = $size - $pos if $len == 0;
        last if $len < 8;
        push @types, $type;
        $pos += $len;
    }
    return @types;
}

# a gray frame at time t: (width, bytes)
sub frame_at {
    my ($file, $t) = @_;
    my $raw = `ffmpeg -nostdin -v error -ss $t -i $file -frames:v 1 -f rawvideo -pix_fmt gray -`;
    return $raw;
}

sub dark_box {
    my ($raw, $w) = @_;
    my ($minx, $maxx, $miny, $maxy) = (1e9, -1, 1e9, -1);
    my $h = length($raw) / $w;
    for my $y (0 .. $h - 1) {
        my $row = substr $raw, $y * $w, $w;
        next unless $row =~ /[\x00-\x7f]/;
        for my $x (0 .. $w - 1) {
            next if ord(substr $row, $x, 1) >= 128;
            $minx = $x if $x < $minx; $maxx = $x if $x > $maxx;
            $miny = $y if $y < $miny; $maxy = $y if $y > $maxy;
        }
    }
    return ($minx, $maxx, $miny, $maxy);
}


my $script = <<'END';
In this lesson we print a greeting from a small C program.
The compiler turns the source into an executable.

    #include <stdio.h>

    int main(void)
    {
        printf("hello\n");
        return 0;
    }

Run it and the greeting appears.
END
spew("$dir/script.txt", $script);

my $out = `$render $dir/script.txt $dir/out.mp4 2>&1`;
ok($? == 0, 'weaveit-render exits 0') or diag $out;
my ($dur, $frames) = $out =~ /: ([\d.]+) s, (\d+) frames/;
ok(defined $dur && $out =~ /0 characters without a glyph, \d+ bytes, [\d.]+ s taken/,
   "one-line summary: $out");
chomp $out;

# the speech's own duration, from the espeak-ng CLI when it is installed
my $speech = $dur // 0;
if (system('espeak-ng --version >/dev/null 2>&1') == 0
    && system("espeak-ng -v en -s 175 -w $dir/ref.wav -f $dir/script.txt") == 0)
{
    my $d = `ffprobe -v error -show_entries format=duration -of csv=p=0 $dir/ref.wav`;
    $speech = $d + 0 if $d =~ /\d/;
    note "reference speech from the espeak-ng CLI: $speech s";
}

my $p = probe("$dir/out.mp4");
ok(($p->{'video.codec_name'} // '') eq 'h264'
   && ($p->{'video.pix_fmt'} // '') eq 'yuv420p', 'h264 yuv420p');
ok(($p->{'video.width'} // 0) == 1280 && ($p->{'video.height'} // 0) == 720,
   '1280x720');
ok(($p->{'video.r_frame_rate'} // '') eq '30/1', '30 fps');
ok(($p->{'audio.codec_name'} // '') eq 'aac', 'aac audio');

my @b = boxes("$dir/out.mp4");
my ($moov) = grep { $b[$_] eq 'moov' } 0 .. $#b;
my ($mdat) = grep { $b[$_] eq 'mdat' } 0 .. $#b;
ok(defined $moov && defined $mdat && $moov < $mdat,
   "moov before mdat (faststart): @b");

my $fd = $p->{'format.duration'} // 0;
ok(abs($fd - $speech) <= 1 / 30 + 1e-6,
   "format duration $fd s equals the speech's $speech s within 1/30 s");
ok(abs(($p->{'video.duration'} // 0) - ($p->{'audio.duration'} // 99))
   <= 1 / 30 + 1e-6, 'video and audio tracks end together');
ok($frames && abs($frames / 30 - $speech) <= 1 / 30, "$frames frames");

my $err = `ffmpeg -nostdin -v error -i $dir/out.mp4 -f null - 2>&1`;
ok($? == 0 && $err eq '', 'ffmpeg decodes it without a message')
    or diag $err;

# the title card
$out = `$render --title 'Hello, World in C' $dir/script.txt $dir/title.mp4 2>&1`;
ok($? == 0, 'with --title: exits 0') or diag $out;
$p = probe("$dir/title.mp4");
$fd = $p->{'format.duration'} // 0;
ok(abs($fd - ($speech + 2)) <= 1 / 30 + 1e-6,
   "title card adds 2 s before the speech ($fd s)");

my $raw = frame_at("$dir/title.mp4", 1);
my ($x0, $x1, $y0, $y1) = dark_box($raw, 1280);
ok(length $raw == 1280 * 720 && $x1 > $x0
   && abs(($x0 + $x1) / 2 - 640) <= 20 && abs(($y0 + $y1) / 2 - 360) <= 40,
   "title centred at 1 s: x $x0..$x1 y $y0..$y1");

$raw = frame_at("$dir/title.mp4", 3);
($x0, $x1, $y0, $y1) = dark_box($raw, 1280);
ok($x0 >= 78 && $x0 <= 90 && $y0 < 150, "script at 3 s from the margin: x $x0 y $y0");

$err = `ffmpeg -nostdin -v error -i $dir/title.mp4 -f null - 2>&1`;
ok($? == 0 && $err eq '', 'titled video decodes without a message');

done_testing;
