import { formatTime as format } from "@/lib/format";

export { formatBytes } from "@/lib/format";

/** A timestamp as "yyyy-mm-dd hh:mm:ss UTC", or an em dash. */
export const formatTime = (date: Date | null | undefined) => format(date, true);
