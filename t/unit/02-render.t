#!/usr/bin/perl
# layout, painting, title cards and scroll sync (t/unit/test_render.c), the
# sync with espeak-ng and with a speech server (t/lib/WeaveIt/Speech.pm)
use strict;
use warnings;
use lib 't/lib';
use WeaveIt::Speech;

my $render = ($ENV{WEAVEIT_BUILD} // 'build') . '/unit/test_render';
my $speech = WeaveIt::Speech->start;
$ENV{WEAVEIT_TEST_SPEECH_URL} = $speech->url;
$ENV{WEAVEIT_TEST_SPEECH_KEY} = $speech->key;
-x $render or die "run make core first\n";
system $render;
exit($? == 0 ? 0 : 1);
