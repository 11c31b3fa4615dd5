import { rgwGlobalSetup } from "../../scripts/rgw";

/** One RADOS Gateway for the fault suite, whose S3 cases kill and restart it. */
export default () => rgwGlobalSetup({ allowExternal: false });
