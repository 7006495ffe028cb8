from insurer.management.job_command import JobCommand
from insurer.models import JobRun
from insurer.services import nightly_run
from members.flags import flag_label


class Command(JobCommand):
    help = (
        "夜間処理（75歳到達の資格喪失、対応フラグの更新、資格確認書の期限切れ）を同期実行します。"
    )
    title = "夜間処理"
    force_help = "実施済みの日付でも再実行する（変更がないことの確認）"

    def run_job(self, *, run_date, force):
        return nightly_run(run_date=run_date, trigger="command", force=force)

    def report_counts(self, run: JobRun) -> None:
        for line in summary_lines(run):
            self.stdout.write("  " + line)


def summary_lines(run: JobRun) -> list[str]:
    counts = run.counts or {}
    if run.status in (JobRun.Status.SKIPPED, JobRun.Status.FAILED):
        return []
    lines = []
    if "loss_at_75" in counts:
        lines.append(f"75歳到達による資格喪失: {counts['loss_at_75']}人")
    for label, key in (("発生したフラグ", "opened"), ("解消したフラグ", "closed")):
        items = counts.get(key) or {}
        detail = "、".join(f"{flag_label(key)} {n}" for key, n in items.items()) or "なし"
        lines.append(f"{label}: {sum(items.values())}件（{detail}）")
    if "certificates_expired" in counts:
        lines.append(f"期限切れにした資格確認書: {counts['certificates_expired']}件")
    return lines
