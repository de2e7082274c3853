/* engine/base/version.h: the version of this build ("0.1.0"). */
#ifndef EDM_ENGINE_VERSION_H
#define EDM_ENGINE_VERSION_H
const char *edm_version(void);
#endif
