/*
 * crc32c.c: CRC-32C (see crc32c.h).  Reflected polynomial 0x82F63B78;
 * sn_crc32c(0, "123456789", 9) == 0xE3069283, the standard check value.
 *
 * On x86-64 with SSE 4.2 (every x86 server since 2008) the crc32
 * instruction computes exactly this polynomial, eight bytes at a time:
 * about twenty times the table's speed, which matters because every
 * spooled byte is checksummed once written and once per consumer read.
 * The table stays for other machines and is the reference the unit
 * test compares against.
 */
#include <pthread.h>

#include "crc32c.h"

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static uint32_t (*crc32c_impl)(uint32_t, const uint8_t *, size_t);

static uint32_t
crc32c_sw(uint32_t crc, const uint8_t *b, size_t len)
{
	while (len-- > 0)
		crc = crc32c_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
#include <string.h>

__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *b, size_t len)
{
	uint64_t c = crc, w;

	for (; len >= 8; len -= 8, b += 8) {
		memcpy(&w, b, 8);
		c = __builtin_ia32_crc32di(c, w);
	}
	crc = (uint32_t)c;
	while (len-- > 0)
		crc = __builtin_ia32_crc32qi(crc, *b++);
	return crc;
}
#endif

static void
crc32c_init(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc32c_table[i] = c;
	}
	crc32c_impl = crc32c_sw;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc32c_impl = crc32c_hw;
#endif
}

uint32_t
sn_crc32c(uint32_t crc, const void *p, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
	return ~crc32c_impl(~crc, p, len);
}

uint32_t
sn_crc32c_portable(uint32_t crc, const void *p, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
	return ~crc32c_sw(~crc, p, len);
}
