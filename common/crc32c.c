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
 *
 * The instruction takes three cycles but can start one every cycle, so
 * a single chain of them runs at a third of the speed the CPU allows.
 * crc32c_hw runs three chains over three adjacent blocks and joins them
 * with the "zeros operator" of zlib's crc32_combine (the CRC of a block
 * moved past len more bytes is a linear map of it, here four 256-entry
 * tables): the method of Mark Adler's crc32c.c.  Debian 12 packages no
 * CRC-32C library (Google's crc32c is not in it), hence this file.
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

/* The blocks of the three chains: long ones, then short ones for what
 * is left (a spool record of 100 events is about 20 KB). */
#define CRC32C_LONG  8192
#define CRC32C_SHORT 256

/* Moves a CRC past CRC32C_LONG or CRC32C_SHORT zero bytes, a byte of
 * the CRC per table (crc32c_zeros). */
static uint32_t crc32c_long[4][256];
static uint32_t crc32c_short[4][256];

/* The 32x32 matrix over GF(2) mat (a column per word) times vec. */
static uint32_t
gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;

	for (; vec != 0; vec >>= 1, mat++)
		if (vec & 1)
			sum ^= *mat;
	return sum;
}

static void
gf2_square(uint32_t *square, const uint32_t *mat)
{
	int n;

	for (n = 0; n < 32; n++)
		square[n] = gf2_times(mat, mat[n]);
}

/* The operator that moves a CRC past len zero bytes (len a power of
 * two), into op: squares of the one-zero-bit operator, as zlib's
 * crc32_combine. */
static void
crc32c_zeros_op(uint32_t *op, size_t len)
{
	uint32_t odd[32], row = 1;
	int n;

	odd[0] = 0x82F63B78u; /* one zero bit */
	for (n = 1; n < 32; n++, row <<= 1)
		odd[n] = row;
	gf2_square(op, odd); /* two zero bits */
	gf2_square(odd, op); /* four */
	for (;;) {
		gf2_square(op, odd); /* one zero byte, then 4, 16, ... */
		if ((len >>= 1) == 0)
			return;
		gf2_square(odd, op); /* two zero bytes, then 8, 32, ... */
		if ((len >>= 1) == 0)
			break;
	}
	memcpy(op, odd, sizeof(odd));
}

static void
crc32c_zeros(uint32_t zeros[4][256], size_t len)
{
	uint32_t op[32];
	uint32_t n;

	crc32c_zeros_op(op, len);
	for (n = 0; n < 256; n++) {
		zeros[0][n] = gf2_times(op, n);
		zeros[1][n] = gf2_times(op, n << 8);
		zeros[2][n] = gf2_times(op, n << 16);
		zeros[3][n] = gf2_times(op, n << 24);
	}
}

static inline uint32_t
crc32c_shift(const uint32_t zeros[4][256], uint32_t crc)
{
	return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^
	       zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

/* Three chains over blocks of size at b while len allows, joined into
 * *c0; returns the new b. */
__attribute__((target("sse4.2"))) static inline const uint8_t *
crc32c_hw3(uint64_t *c0, const uint8_t *b, size_t *len, size_t size,
           const uint32_t zeros[4][256])
{
	uint64_t a = *c0, c1, c2, w;
	const uint8_t *end;

	while (*len >= 3 * size) {
		c1 = c2 = 0;
		for (end = b + size; b < end; b += 8) {
			memcpy(&w, b, 8);
			a = __builtin_ia32_crc32di(a, w);
			memcpy(&w, b + size, 8);
			c1 = __builtin_ia32_crc32di(c1, w);
			memcpy(&w, b + 2 * size, 8);
			c2 = __builtin_ia32_crc32di(c2, w);
		}
		a = crc32c_shift(zeros, (uint32_t)a) ^ c1;
		a = crc32c_shift(zeros, (uint32_t)a) ^ c2;
		b += 2 * size;
		*len -= 3 * size;
	}
	*c0 = a;
	return b;
}

__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *b, size_t len)
{
	uint64_t c = crc, w;

	b = crc32c_hw3(&c, b, &len, CRC32C_LONG, crc32c_long);
	b = crc32c_hw3(&c, b, &len, CRC32C_SHORT, crc32c_short);
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
	if (__builtin_cpu_supports("sse4.2")) {
		crc32c_zeros(crc32c_long, CRC32C_LONG);
		crc32c_zeros(crc32c_short, CRC32C_SHORT);
		crc32c_impl = crc32c_hw;
	}
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
