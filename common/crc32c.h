/*
 * crc32c.h: CRC-32C (Castagnoli), the checksum of ingestd's spool
 * records and detectd's checkpoints.  Software, table-driven, a byte at
 * a time: the spool checksums what it also writes to disk, so a few
 * hundred MB/s is plenty, and it saves a dependency for twenty lines.
 */
#ifndef SN_CRC32C_H
#define SN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of p[0..len), continuing from crc (start with 0). */
uint32_t sn_crc32c(uint32_t crc, const void *p, size_t len);

#endif
