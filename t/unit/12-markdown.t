#!/usr/bin/perl
# Markdown-lite: shown text, spoken text and the map between them, and the
# edge cases of issue 15; and on screen, the styles' fonts, the title card,
# headings, holds and a tall block scrolled through (t/unit/test_markdown.c)
my $bin = ($ENV{WEAVEIT_BUILD} // 'build') . '/unit/test_markdown';
exec $bin or die "run make core first: $!";
