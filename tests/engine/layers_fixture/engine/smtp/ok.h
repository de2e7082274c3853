/* engine/smtp/ok.h: a header in the smtp layer. */
#include "engine/base/alloc.h"
