/** `node dist/bench/profile-summary.js FILE.cpuprofile [N]`: top N functions of a CPU profile, by self time. */
import { formatProfile, summarizeProfile } from "./lib/profile.js";

const [file, limit] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write("usage: node dist/bench/profile-summary.js FILE.cpuprofile [N]\n");
  process.exit(2);
}
process.stdout.write(formatProfile(summarizeProfile(file, limit === undefined ? 30 : Number(limit))) + "\n");
