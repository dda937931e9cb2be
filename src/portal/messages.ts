/** The protobuf messages of `proto/api.proto` as they appear in JavaScript (keepCase). */
export interface ClientMsg {
  CID: string;
  data: string;
}
export interface ProductMsg {
  PID: string;
  data: string;
}
export interface OrderMsg {
  OID: string;
  CID: string;
  data: string;
}
export interface ReplyMsg {
  error: number;
  description?: string;
}
export interface IdMsg {
  ID: string;
}
