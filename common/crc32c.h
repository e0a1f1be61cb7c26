/*
 * crc32c.h: CRC-32C (Castagnoli), the checksum of ingestd's spool
 * records and detectd's checkpoints: the crc32 instruction of SSE 4.2
 * where the CPU has it (three chains at once, crc32c.c), else a table a
 * byte at a time.
 */
#ifndef SN_CRC32C_H
#define SN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of p[0..len), continuing from crc (start with 0). */
uint32_t sn_crc32c(uint32_t crc, const void *p, size_t len);
/* The same, always with the table (the tests' reference). */
uint32_t sn_crc32c_portable(uint32_t crc, const void *p, size_t len);

#endif
