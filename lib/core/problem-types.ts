/** A problem type of RFC 9457: its URI and its title. */
export interface ProblemType {
  readonly type: string
  readonly title: string
}

/**
 * The problem types of draft-ietf-httpapi-ratelimit-headers-10 (section 5), with the titles the
 * draft registers for them with IANA (section 10.2): RFC 9457 makes the registered title the
 * type's summary, where the bodies of the draft's examples vary (and one has a typo).
 */
export const problemTypes = {
  /** A request over its quota: the 429. */
  quotaExceeded: { type: 'https://iana.org/assignments/http-problem-types#quota-exceeded', title: 'Quota Exceeded' },
  /** "A pattern of requests that suggest unintentional or malicious behaviour": the ban's answer. */
  abnormalUsage: { type: 'https://iana.org/assignments/http-problem-types#abnormal-usage-detected', title: 'Abnormal Usage Detected' },
  /** "A temporary reduction in server capacity": the 503 of `onStoreError: 'deny'`. */
  reducedCapacity: { type: 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity', title: 'Temporary Reduced Capacity' }
} as const satisfies Record<string, ProblemType>

/** The media type of an RFC 9457 problem details body. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'
