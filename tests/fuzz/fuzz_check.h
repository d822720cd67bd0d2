/* What a fuzz target does when an invariant breaks: say which, then crash so libFuzzer keeps
 * the input as a reproducer. Input is never trusted; only our own promises are checked. */
#ifndef REFEX_FUZZ_CHECK_H
#define REFEX_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,       \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
