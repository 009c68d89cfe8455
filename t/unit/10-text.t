#!/usr/bin/perl
# every language: shaping, fallback, colour emoji, bidi, breaking, colour
# spans, the spoken line of Chinese and Arabic speech, the voice "auto"
# picks for a script (t/unit/test_text.c)
my $build = $ENV{WEAVEIT_BUILD} // 'build';
exec "$build/unit/test_text" or die "run make core first: $!";
