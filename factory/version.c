/*
 * version.c - build identity recorded in every manifest. SF_GIT_COMMIT
 * comes from $(BUILD)/gen/git_commit.h, rewritten by the Makefile only when
 * the commit changes.
 */
#include "sf_int.h"

#if __has_include("git_commit.h")
#include "git_commit.h"
#endif
#ifndef SF_GIT_COMMIT
#define SF_GIT_COMMIT "unknown"
#endif

const char *sf_git_commit(void) {
    return SF_GIT_COMMIT;
}
