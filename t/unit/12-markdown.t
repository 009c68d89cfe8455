#!/usr/bin/perl
# Markdown-lite: shown text, spoken text and the map between them, and the
# edge cases of issue 15 (t/unit/test_markdown.c)
exec './build/unit/test_markdown' or die "run make core first: $!";
