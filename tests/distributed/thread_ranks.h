// Moved: the thread-ranks helper lives in tests/support/thread_ranks.h (this forwards to it).
#pragma once

#include "support/thread_ranks.h"
