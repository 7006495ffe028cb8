from certificates.issuing import certificates_issue_run
from insurer.management.job_command import JobCommand
from insurer.models import JobRun


class Command(JobCommand):
    help = "定期発行: 対応中のフラグ（資格確認書が必要・更新対象・再交付が必要）ごとに資格確認書を1バッチで交付します。"
    title = "資格確認書の定期発行"
    date_help = "交付日 YYYY-MM-DD（既定: 今日、Asia/Tokyo）"

    def run_job(self, *, run_date, force):
        return certificates_issue_run(run_date=run_date, trigger="command", force=force)

    def report_counts(self, run: JobRun) -> None:
        counts = run.counts or {}
        if "batch" not in counts:
            return
        issued = sum((counts.get("issued") or {}).values())
        self.stdout.write(
            f"バッチ #{counts['batch']}: 資格確認書 {issued}件、資格情報のお知らせ {counts.get('notices', 0)}件、"
            f"交付できなかったもの {counts.get('skipped', 0)}件"
        )
        for example in counts.get("skipped_examples", []):
            self.stdout.write(f"  {example}")
