import { rgwGlobalSetup } from "../../scripts/rgw";

/** One RADOS Gateway for the storage suites, unless DEPOT_TEST_S3_BUCKET names another S3 endpoint to test. */
export default () => rgwGlobalSetup({ allowExternal: true });
