/*
 * What every libFuzzer harness of t/fuzz uses, those of the generation
 * core (no nginx) included.
 */

#ifndef _WEAVEIT_FUZZ_ASSERT_H_INCLUDED_
#define _WEAVEIT_FUZZ_ASSERT_H_INCLUDED_


/* a property that must hold for every input: a crash libFuzzer reports */
#define fuzz_assert(cond)                                                     \
    do { if (!(cond)) { __builtin_trap(); } } while (0)


#endif /* _WEAVEIT_FUZZ_ASSERT_H_INCLUDED_ */
