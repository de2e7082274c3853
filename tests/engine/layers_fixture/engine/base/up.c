/* engine/base/up.c: includes a header of a higher layer. */
#include "engine/smtp/ok.h"
