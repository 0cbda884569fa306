package io.imskms.protocol;

/** Any refusal: version ‖ 0x7f ‖ code(u8). Nothing else is revealed. */
public record ErrorResponse(ErrorCode code) {

  public byte[] encode() {
    return new WireWriter().u8(Wire.VERSION).u8(Wire.T_ERROR).u8(code.number()).toByteArray();
  }

  public static ErrorResponse decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_ERROR);
    int n = r.u8();
    r.end();
    return new ErrorResponse(ErrorCode.ofNumber(n));
  }
}
