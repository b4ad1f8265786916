import { AsnPropTypes, AsnTypeTypes } from "@peculiar/asn1-schema";
import { Prop, Type } from "./der-codec.js";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { BIGINT } from "./common.js";

/** RFC 8018 §A.2: salt CHOICE { specified OCTET STRING, otherSource AlgorithmIdentifier }. */
@Type({ type: AsnTypeTypes.Choice })
export class Pbkdf2Salt {
  @Prop({ type: AsnPropTypes.OctetString }) specified?: ArrayBuffer;
  @Prop({ type: AlgorithmIdentifier }) otherSource?: AlgorithmIdentifier;
  constructor(p: Partial<Pbkdf2Salt> = {}) {
    Object.assign(this, p);
  }
}

/**
 * PBKDF2-params ::= SEQUENCE { salt, iterationCount INTEGER, keyLength INTEGER OPTIONAL,
 * prf AlgorithmIdentifier DEFAULT algid-hmacWithSHA1 }. prf is declared OPTIONAL: absent means
 * HMAC-SHA1, which the verifier refuses anyway.
 */
export class Pbkdf2Params {
  @Prop({ type: Pbkdf2Salt }) salt = new Pbkdf2Salt();
  @Prop(BIGINT) iterationCount = 0n;
  @Prop({ ...BIGINT, optional: true }) keyLength?: bigint;
  @Prop({ type: AlgorithmIdentifier, optional: true }) prf?: AlgorithmIdentifier;
  constructor(p: Partial<Pbkdf2Params> = {}) {
    Object.assign(this, p);
  }
}

/** PBMAC1-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, messageAuthScheme AlgorithmIdentifier } (RFC 8018 §A.5). */
export class Pbmac1Params {
  @Prop({ type: AlgorithmIdentifier }) keyDerivationFunc = new AlgorithmIdentifier();
  @Prop({ type: AlgorithmIdentifier }) messageAuthScheme = new AlgorithmIdentifier();
  constructor(p: Partial<Pbmac1Params> = {}) {
    Object.assign(this, p);
  }
}
