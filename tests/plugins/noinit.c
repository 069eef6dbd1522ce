/* noinit.c -- a test plugin with a valid descriptor but no pmq_plugin_init(). */
#include <pmq/plugin.h>

PMQ_PLUGIN_MAGIC("noinit", "1.0", 0);
