/** Object identifiers of CMP, CRMF and the MAC algorithms of RFC 9481. */
export const CMP_OID = {
  passwordBasedMac: "1.2.840.113533.7.66.13", // RFC 4211 §4.4
  pbmac1: "1.2.840.113549.1.5.14", // RFC 8018 §A.5, RFC 9481 §6.1.2
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacSha1: "1.3.6.1.5.5.8.1.2", // RFC 4211's hMAC-SHA1; openssl cmp's default PBM mac
  hmacWithSha1: "1.2.840.113549.2.7",
  hmacWithSha224: "1.2.840.113549.2.8",
  hmacWithSha256: "1.2.840.113549.2.9",
  hmacWithSha384: "1.2.840.113549.2.10",
  hmacWithSha512: "1.2.840.113549.2.11",
  sha1: "1.3.14.3.2.26",
  sha224: "2.16.840.1.101.3.4.2.4",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  implicitConfirm: "1.3.6.1.5.5.7.4.13",
  confirmWaitTime: "1.3.6.1.5.5.7.4.14",
  regCtrlOldCertId: "1.3.6.1.5.5.7.5.1.5",
  crlReason: "2.5.29.21",
} as const;

export type HashName = "sha256" | "sha384" | "sha512";

/** Hash OIDs accepted as PBM owf and certConf hashAlg; SHA-1 and SHA-224 are not. */
export const HASH_BY_OID: Readonly<Record<string, HashName>> = {
  [CMP_OID.sha256]: "sha256",
  [CMP_OID.sha384]: "sha384",
  [CMP_OID.sha512]: "sha512",
};

/** HMAC OIDs (RFC 8018 / RFC 9481 §6.2.1) accepted as MAC or PRF. */
export const HMAC_BY_OID: Readonly<Record<string, HashName>> = {
  [CMP_OID.hmacWithSha256]: "sha256",
  [CMP_OID.hmacWithSha384]: "sha384",
  [CMP_OID.hmacWithSha512]: "sha512",
};

export const OID_BY_HASH: Readonly<Record<HashName, string>> = { sha256: CMP_OID.sha256, sha384: CMP_OID.sha384, sha512: CMP_OID.sha512 };
export const HMAC_OID_BY_HASH: Readonly<Record<HashName, string>> = { sha256: CMP_OID.hmacWithSha256, sha384: CMP_OID.hmacWithSha384, sha512: CMP_OID.hmacWithSha512 };
