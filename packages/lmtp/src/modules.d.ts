/** smtp-server's connection class (exported by the package as "smtp-server/lib/*"; untyped). */
declare module 'smtp-server/lib/smtp-connection.js' {
  export class SMTPConnection {}
}
