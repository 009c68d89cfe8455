#!/usr/bin/perl
# Text for every language, read back: weaveit-render makes a video of a
# line of Chinese, Japanese, Korean, Arabic, Hebrew and Hindi (each with
# its espeak-ng voice), and tesseract, with its Debian language pack,
# reads a frame of it.  The characters must come back in their logical
# order (a longest common subsequence of most of them): Arabic or Hebrew
# drawn left to right, or letters drawn unjoined or as boxes, read back
# as something else.  A right-to-left title long enough to wrap over
# several lines is read back word for word in order: its first line on
# top, each line's words from the right.

use strict;
use warnings;
use utf8;
use Test::More;
use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);
my $render = ($ENV{WEAVEIT_BUILD} // 'build') . '/weaveit-render';

binmode Test::More->builder->$_, ':encoding(UTF-8)'
    for qw(output failure_output todo_output);

# [name, voice, tesseract language, line]
my @lines = (
    ['Chinese',  'cmn', 'chi_sim', '今天我们学习这个函数的用法'],
    ['Japanese', 'ja',  'jpn',     '日本語の文字を読みます'],
    ['Korean',   'ko',  'kor',     '한국어 문장을 읽습니다'],
    ['Arabic',   'ar',  'ara',     'مرحبا بالعالم من هنا'],
    ['Hebrew',   'he',  'heb',     'שלום עולם מכאן'],
    ['Hindi',    'hi',  'hin',     'नमस्ते दुनिया यहाँ से'],
);

# the length of the longest common subsequence of two strings
sub lcs {
    my ($x, $y) = @_;
    my @a = split //, $x;
    my @b = split //, $y;
    my @prev = (0) x (@b + 1);
    for my $i (1 .. @a) {
        my @cur = (0);
        for my $j (1 .. @b) {
            $cur[$j] = $a[$i - 1] eq $b[$j - 1] ? $prev[$j - 1] + 1
                     : $cur[$j - 1] > $prev[$j] ? $cur[$j - 1] : $prev[$j];
        }
        @prev = @cur;
    }
    return $prev[-1];
}

for my $l (@lines) {
    my ($name, $voice, $lang, $text) = @$l;
    my $script = "$dir/$voice.txt";
    open my $f, '>:encoding(UTF-8)', $script or die "$script: $!";
    print $f "$text\n";
    close $f;

    my $out = `$render --voice $voice --fps 5 $script $dir/$voice.mp4 2>&1`;
    if ($? != 0 || $out !~ / 0 characters without a glyph,/) {
        fail("$name: rendered with no missing glyph: $out");
        next;
    }

    # grey: tesseract finds no text on the colour band as it is
    system("ffmpeg -nostdin -v error -ss 0.5 -i $dir/$voice.mp4 -frames:v 1 "
           . "-vf format=gray -y $dir/$voice.png") == 0 or die "ffmpeg failed";
    my $read = `tesseract $dir/$voice.png - -l $lang --psm 6 2>/dev/null`;
    utf8::decode($read);

    (my $want = $text) =~ s/\s+//g;
    (my $got = $read) =~ s/\s+//g;
    my $common = lcs($want, $got);
    ok($common >= 0.7 * length($want),
       sprintf("%s: tesseract reads %d of %d characters back in order "
               . "(\"%s\")", $name, $common, length($want), $got));
}

# the length of the longest common subsequence of two lists of words
sub lcs_words {
    my ($x, $y) = @_;
    return lcs(join('', map { chr(0xe000 + $_) } map { word_id($_) } @$x),
               join('', map { chr(0xe000 + $_) } map { word_id($_) } @$y));
}

my %ids;
sub word_id { $ids{$_[0]} //= keys %ids }

# [name, voice, tesseract language, title of distinct words]
my @titles = (
    ['Arabic', 'ar', 'ara',
     'تعلم البرمجة بلغة سي خطوة بخطوة مع أمثلة واضحة عن المؤشرات والذاكرة '
     . 'والمصفوفات والدوال والهياكل وكيفية كتابة برامج آمنة وسريعة '
     . 'للمبتدئين والمحترفين في كل مكان'],
    ['Hebrew', 'he', 'heb',
     'לומדים לתכנת בשפת סי צעד אחר צעד עם דוגמאות ברורות על מצביעים וזיכרון '
     . 'ומערכים ופונקציות ומבנים ואיך לכתוב תוכניות בטוחות ומהירות '
     . 'למתחילים ולמקצוענים בכל מקום'],
);

for my $t (@titles) {
    my ($name, $voice, $lang, $title) = @$t;
    my $script = "$dir/title-$voice.txt";
    open my $f, '>:encoding(UTF-8)', $script or die "$script: $!";
    print $f "$title\n";
    close $f;

    my $arg = $title;
    utf8::encode($arg);
    system($render, '--voice', $voice, '--fps', '5', '--title', $arg,
           $script, "$dir/title-$voice.mp4") == 0
        or die "weaveit-render --title failed";
    system("ffmpeg -nostdin -v error -ss 0.5 -i $dir/title-$voice.mp4 "
           . "-frames:v 1 -vf format=gray -y $dir/title-$voice.png") == 0
        or die "ffmpeg failed";
    my $read = `tesseract $dir/title-$voice.png - -l $lang --psm 6 2>/dev/null`;
    utf8::decode($read);

    my @lines = grep { /\S/ } split /\n/, $read;
    my @want = split ' ', $title;
    my @got = split ' ', $read;
    my $common = lcs_words(\@want, \@got);
    ok(@lines >= 3 && $common >= 0.7 * @want,
       sprintf("%s title over %d lines: tesseract reads %d of %d words "
               . "back in order (\"%s\")", $name, scalar @lines, $common,
               scalar @want, join(' / ', @lines)));
}

done_testing;
